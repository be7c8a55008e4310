# The protect-worker image: one `protect` entry point for every role (run, stages, demo, ...).
FROM python:3.11-slim

# Run as an unprivileged user; nothing is written outside /tmp at run time.
RUN useradd --create-home --uid 10001 protect
WORKDIR /app
COPY pyproject.toml README.md ./
COPY worker ./worker
RUN pip install --no-cache-dir . && rm -rf /root/.cache
COPY examples ./examples
COPY schemas ./schemas

USER protect
ENV PROTECT_LOG_FORMAT=json
ENTRYPOINT ["protect"]
CMD ["run"]
