# tickwire's image for AWS: one image, two uses (see "Deploying to AWS" in README.md).
#   ECS Fargate worker:   the default entry point and command, `tickwire worker`
#   $connect authorizer:  Lambda runs it with ImageConfig
#                         EntryPoint [python, -m, awslambdaric], Command [ingest.authorizer.handler]
# It carries the package's own dependencies only: the local emulator's (the `local` extra:
# trustme, airspeed-ext, jsonschema, moto) are not installed.
# Build for the architecture the stack's WorkerArchitecture/LambdaArchitecture name
# (default x86_64):  docker build --platform linux/amd64 -t tickwire .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, from pyproject.toml alone, so a code change reuses this layer.
# awslambdaric: the Lambda runtime interface client, so Lambda can run the authorizer
# from this same image.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt awslambdaric \
    && rm /tmp/requirements.txt

# Then the sources, installed without resolving anything again.
COPY README.md LICENSE ./
COPY tickwire ./tickwire
COPY infra ./infra
COPY ingest ./ingest
COPY game_engine ./game_engine
COPY broadcaster ./broadcaster
COPY swarm ./swarm
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --no-create-home tickwire

USER 10001
ENTRYPOINT ["tickwire"]
CMD ["worker"]
