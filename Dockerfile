# The TestGen app image (testgen-copilot:latest): the harness package with the reference
# TestGen service, the mock LLM provider, the healthcheck probe and the fault proxy, plus
# the tools runbook steps run inside it (`docker exec testgen-copilot pg_isready -h postgres`,
# psql, redis-cli, `python -c "import psutil"`).
#
# Built offline by scripts/build-offline-images.sh, whose staged context holds wheels/
# (runtime dependencies, built on the host) and harness/ (this checkout's package, put on
# the venv's path). The base is a Debian root file system made with debootstrap; nothing
# here reaches the network.
ARG BASE_IMAGE=gameday-debian:bookworm
FROM ${BASE_IMAGE}
LABEL gameday.image=app
RUN python3 -m venv /opt/venv
COPY wheels/ /tmp/wheels/
RUN /opt/venv/bin/pip install --quiet --no-index --find-links /tmp/wheels \
        --requirement /tmp/wheels/requirements.txt \
    && rm -rf /tmp/wheels /root/.cache
# gh-103607 backport for Debian's Python 3.11.2, loaded at start by a .pth file (see the
# module's docstring: without it the fault proxy drops a client's first bytes).
COPY gameday_asyncio_backport.py /tmp/
COPY harness/ /opt/gameday/harness/
RUN site=$(/opt/venv/bin/python -c 'import site; print(site.getsitepackages()[0])') \
    && echo /opt/gameday > "$site/gameday-harness.pth" \
    && mv /tmp/gameday_asyncio_backport.py "$site/" \
    && echo 'import gameday_asyncio_backport' > "$site/gameday-asyncio-backport.pth" \
    && { /opt/venv/bin/python -m compileall -q /opt/gameday/harness >/dev/null || true; } \
    && mkdir -p /var/log/testgen /app
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin PYTHONUNBUFFERED=1 LANG=C.UTF-8
WORKDIR /app
EXPOSE 8000
CMD ["python", "-m", "harness.services.testgen"]
