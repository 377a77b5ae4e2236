# weightgate as an image, for GitLab CI and anyone without Python:
#   docker run --rm --network none -v "$PWD:/work:ro" IMAGE check deploy/models.yaml
# Dependencies come only from the hash-pinned lock; the final stage holds the virtualenv and nothing to build
# with (no pip, no setuptools, no compiler), and runs as an unprivileged user.
# BASE is any image with python3 (3.10+) and its venv module; the default is pinned by digest.
ARG BASE=docker.io/library/python:3.12-slim-bookworm@sha256:782412e85d0f0984994c290652577d4018aff08145c85b262bb63dc0c7522254

FROM ${BASE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY requirements/lock.txt requirements/lock.txt
RUN python3 -m venv /opt/weightgate \
 && /opt/weightgate/bin/python -m pip install --quiet --require-hashes --only-binary :all: -r requirements/lock.txt
COPY pyproject.toml README.md ./
COPY src/ src/
RUN /opt/weightgate/bin/python -m pip install --quiet --no-deps --no-build-isolation . \
 && /opt/weightgate/bin/python -m pip check \
 && /opt/weightgate/bin/python -m pip uninstall --quiet --yes setuptools pip \
 && /opt/weightgate/bin/weightgate --version

FROM ${BASE}
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="weightgate" \
      org.opencontainers.image.description="Supply-chain promotion gate for AI model artifacts" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="https://github.com/weightgate/weightgate" \
      org.opencontainers.image.url="https://github.com/weightgate/weightgate" \
      org.opencontainers.image.documentation="https://github.com/weightgate/weightgate#readme" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="weightgate maintainers"
# git, for `check --policy-ref`: the policy is read at the merge request's base commit from the job's clone.
# Debian's current git for this release (security updates included), not a pinned version that would vanish.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install --yes --no-install-recommends git \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --no-log-init --uid 10001 --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
    weightgate
COPY --from=build /opt/weightgate /opt/weightgate
ENV PATH=/opt/weightgate/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /work
USER 10001:10001
ENTRYPOINT ["weightgate"]
CMD ["--help"]
