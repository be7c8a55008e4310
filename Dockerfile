# The protect-worker image: one `protect` entry point for every role (run, notify, stages, ...).
# A patch-level tag: a rebuild gets the same Python; bump it deliberately.
FROM python:3.11.11-slim-bookworm

# An unprivileged numeric user: orchestrators (Kubernetes runAsNonRoot) can verify it without
# the image's /etc/passwd. Nothing is written outside /tmp at run time.
ARG UID=10001
RUN groupadd --gid "${UID}" protect && useradd --create-home --uid "${UID}" --gid "${UID}" protect
WORKDIR /app

# Dependencies first, from pyproject.toml alone: a change to the code does not reinstall them.
# No `embedded` extra: the production image carries no broker binaries.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY README.md ./
COPY worker ./worker
RUN pip install --no-cache-dir --no-deps .
COPY examples ./examples
COPY schemas ./schemas

USER ${UID}:${UID}
ENV PROTECT_LOG_FORMAT=json
ENTRYPOINT ["protect"]
CMD ["run"]
