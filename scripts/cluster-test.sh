#!/usr/bin/env bash
# The cluster suite: the user's path on a real Kubernetes (tests/cluster/cluster_test.py says
# what it checks). helm install of charts/podnetstat with real Helm, demo pods, kubectl
# port-forward + HTTP against the kernel's own view, remote mode with real TokenReview and
# SubjectAccessReview, a containerd restart, helm uninstall. Run as root.
#
# Which cluster:
#   - ../shared/k8s-cluster beside the repo (or the folder PODNETSTAT_CLUSTER_DIR names): a
#     one-node Kubernetes 1.26 started here (and stopped again at the end unless it was up);
#   - else the cluster PODNETSTAT_CLUSTER_KUBECONFIG names (KUBECONFIG alone is never used, so
#     that the suite cannot install into a cluster by accident), with PODNETSTAT_CLUSTER_IMAGE
#     and PODNETSTAT_CLUSTER_DEMO_IMAGE naming images its nodes can pull and, if the chart needs
#     values there, PODNETSTAT_CLUSTER_VALUES a values file (docs/deploy.md, "The cluster suite");
#   - else it is skipped: exit 77 (ctest's SKIP_RETURN_CODE), and in CI (CI=true) it fails.
# The podnetstat image: built from the Dockerfile by scripts/image-check.sh (which checks it
# too), or taken from PODNETSTAT_IMAGE_TAR (a podman save of it, e.g. IMAGE_CHECK_SAVE's).
# PODNETSTAT_CLUSTER_KEEP=1 leaves the release, the namespaces and the cluster for a look.
# Under ctest (the test `cluster`) it runs only in CI, with PODNETSTAT_IMAGE_TAR, or with
# PODNETSTAT_CLUSTER_TEST=1: building the image alone takes 15-30 minutes on two cores, which a
# plain `ctest` should not start unasked.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${PODNETSTAT_CLUSTER_FROM_CTEST:-}" = 1 ] && [ "${CI:-}" != true ] &&
   [ -z "${PODNETSTAT_IMAGE_TAR:-}" ] && [ "${PODNETSTAT_CLUSTER_TEST:-}" != 1 ]; then
  echo "cluster: skipped: it builds the image from the Dockerfile first (15-30 minutes); run" \
       "scripts/cluster-test.sh, or ctest with PODNETSTAT_CLUSTER_TEST=1 or PODNETSTAT_IMAGE_TAR=FILE" >&2
  exit 77
fi
python3 tests/cluster/cluster_test.py --preflight
bash scripts/install-deps.sh --cluster
exec python3 tests/cluster/cluster_test.py "$@"
