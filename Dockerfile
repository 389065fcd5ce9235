# tickwire's image for AWS: one image, two uses (see docs/sections/20-deploy.md).
#   ECS Fargate worker:   the default entry point and command, `tickwire worker`
#   $connect authorizer:  Lambda runs it with ImageConfig
#                         EntryPoint [python, -m, awslambdaric], Command [ingest.authorizer.handler]
# Build for the architecture the stack's WorkerArchitecture/LambdaArchitecture name
# (default x86_64):  docker build --platform linux/amd64 -t tickwire .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml README.md ./
COPY tickwire ./tickwire
COPY infra ./infra
COPY ingest ./ingest
COPY game_engine ./game_engine
COPY broadcaster ./broadcaster
COPY swarm ./swarm

# awslambdaric: the Lambda runtime interface client, so Lambda can run the authorizer
# from this same image.
RUN pip install . awslambdaric \
    && useradd --system --uid 10001 --no-create-home tickwire

USER 10001
ENTRYPOINT ["tickwire"]
CMD ["worker"]
