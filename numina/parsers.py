"""The API's request body parser (its own module: numina.schema imports drf-spectacular,
which reads DEFAULT_PARSER_CLASSES while it loads)."""

from rest_framework import exceptions, parsers


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser (strict: NaN and Infinity refused), with one more refusal.

    Python's json decoder recurses once per nested array or object and raises
    RecursionError (not the ValueError DRF turns into a 400) near a thousand levels, so a
    body of "[[[[…" was a 500. No body this API takes is nested more than a few levels past
    the metadata limit (NUMINA_METADATA_MAX_DEPTH, enforced in validation.py).
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type=media_type, parser_context=parser_context)
        except RecursionError:
            raise exceptions.ParseError(
                "JSON parse error - nested too deeply.", code="json_too_deep"
            ) from None
