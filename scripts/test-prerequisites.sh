#!/usr/bin/env bash
# What `npm test` needs besides `npm ci`, checked before it starts (npm runs this as `pretest`):
# the tests use real servers and tools, never mocks of them. Prints what is missing and the one
# command that installs it, and exits 1; `--packages` prints the missing Debian packages only (for
# .ci/run, which installs them). helm is not here: the tests fetch it themselves (harness/helm.ts).
set -uo pipefail

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
# prometheus brings promtool too: tests scrape our exporter with a real Prometheus.
{ command -v prometheus && command -v promtool; } >/dev/null 2>&1 || missing+=(prometheus)
# openssl makes the certificates of the KEDA TLS tests.
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# The status page is tested in a real headless browser (playwright-core drives Debian's chromium).
[ -x /usr/bin/chromium ] || missing+=(chromium)
# The RQ tests enqueue with RQ's Python API and run a real `rq worker` (Debian's RQ 1.13).
{ command -v rq && "$(head -1 "$(command -v rq)" | sed 's/^#! *//')" -c 'import rq'; } >/dev/null 2>&1 \
  || missing+=(python3-rq)
# The Celery tests send tasks with Celery's API and run real Celery workers (Debian's Celery 5.2, in
# /usr/bin/python3: a python3 of pyenv's first on PATH does not have it).
/usr/bin/python3 -c 'import celery' >/dev/null 2>&1 || missing+=(python3-celery)

if [ "${1:-}" = "--packages" ]; then
  echo "${missing[*]}"
  exit 0
fi

# kubectl renders the kustomize manifests (kubectl kustomize); Debian has no package for it.
kubectl_missing=""
command -v kubectl >/dev/null 2>&1 || kubectl_missing="yes"

if [ "${#missing[@]}" -eq 0 ] && [ -z "$kubectl_missing" ]; then
  exit 0
fi
{
  echo "npm test needs tools that are not installed here:"
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "  the Debian packages: ${missing[*]}"
    echo "    install them with: sudo apt-get install -y --no-install-recommends ${missing[*]}"
  fi
  if [ -n "$kubectl_missing" ]; then
    echo "  kubectl (for kubectl kustomize): https://kubernetes.io/docs/tasks/tools/#kubectl"
  fi
  echo "or run bash .ci/run, which installs the packages and runs npm ci && npm test."
} >&2
exit 1
