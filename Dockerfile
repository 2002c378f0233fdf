# The dawn image: every service in docker-compose.yml runs a `dawn` subcommand from it.
FROM python:3.11-slim
# Pillow's wheels bundle raqm (Hindi and Marathi shaping on branded images) but load fribidi from
# the system at run time.
RUN apt-get update && apt-get install -y --no-install-recommends libfribidi0 \
    && rm -rf /var/lib/apt/lists/*
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
