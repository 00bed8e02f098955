# The DMR stand-in's runner (tests/dmr_standin): what `docker model install-runner` starts in place of
# docker/model-runner (upstream Dockerfile: user modelrunner, /models owned by it, MODEL_RUNNER_PORT).
FROM ultra-test/python:3
RUN groupadd --system modelrunner \
    && useradd --system --gid modelrunner -G video --create-home --home-dir /home/modelrunner modelrunner \
    && mkdir -p /models && chown -R modelrunner:modelrunner /models && chmod -R 755 /models
COPY dmr_standin /opt/standin/dmr_standin
ENV MODEL_RUNNER_PORT=12434 \
    HOME=/home/modelrunner \
    MODELS_PATH=/models \
    PYTHONPATH=/opt/standin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER modelrunner
WORKDIR /opt/standin
EXPOSE 12434
ENTRYPOINT ["python3", "-m", "dmr_standin.container"]
