# The dawn image: every service in docker-compose.yml runs a `dawn` subcommand from it.
FROM python:3.11-slim
RUN useradd --create-home dawn
WORKDIR /app
COPY pyproject.toml README.md ./
COPY dawn dawn
COPY schemas schemas
COPY store store
COPY whatsapp whatsapp
COPY sandbox sandbox
COPY producers producers
COPY streams streams
COPY consumers consumers
RUN pip install --no-cache-dir .
USER dawn
ENTRYPOINT ["dawn"]
