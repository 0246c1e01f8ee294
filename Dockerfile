# One image for web, worker and beat.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY numina numina
COPY accounts accounts
COPY conversations conversations
RUN pip install --no-cache-dir .

COPY . .
# collectstatic needs settings to load; the key is thrown away with this layer.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput

# var/media exists in the image, owned by numina, so a new named volume mounted there
# (docker-compose.yml) starts out writable by the app.
RUN useradd --create-home numina && mkdir -p var/media && chown -R numina var
USER numina
EXPOSE 8000
CMD ["gunicorn", "numina.asgi", "--config", "gunicorn.conf.py"]
