# vqspeech on CPU. Installs with the Makefile's own `install-wheel` target (torch first from TORCH_SPEC,
# then a wheel built from this tree, with the eval extra), which CI's .ci/wheel_check.sh runs in a clean venv.
#   docker build -t vqspeech --build-arg TORCH_PIP_ARGS="--index-url <a CPU wheel index>" .
#   docker run --rm -v "$PWD:/work" -w /work vqspeech encode speech.wav
FROM python:3.11-slim

ARG TORCH_SPEC="torch==2.13.0"
ARG TORCH_PIP_ARGS=""

RUN apt-get update \
    && apt-get install -y --no-install-recommends libsndfile1 make \
    && rm -rf /var/lib/apt/lists/*

ENV PIP_NO_CACHE_DIR=1
WORKDIR /opt/vqspeech
COPY Makefile pyproject.toml README.md ./
COPY vqspeech ./vqspeech
RUN make install-wheel VENV=/opt/venv PYTHON=python3 WHEEL_EXTRAS='[eval]' \
        TORCH_SPEC="$TORCH_SPEC" TORCH_PIP_ARGS="$TORCH_PIP_ARGS" \
    && rm -rf build /opt/venv/.wheel

ENV PATH=/opt/venv/bin:$PATH NUMBA_CACHE_DIR=/tmp/numba-cache
ENTRYPOINT ["vqspeech"]
CMD ["--help"]
