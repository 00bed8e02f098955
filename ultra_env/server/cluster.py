"""The team's model server for Kubernetes (``invoke server.k8s``): manifests rendered from the same
``[server]`` settings, written to ``k8s/team.yaml`` in the project for ``kubectl apply -f``.

Model Runner runs as its own Helm chart runs it (docker/model-runner ``charts/docker-model-runner``:
``docker/model-runner`` with the ``-cuda``/``-rocm`` variant and ``nvidia.com/gpu``/``amd.com/gpu``
for a GPU, an ephemeral volume at ``/models``, probes on ``/engines/status``), its models pulled by a
Job, and the same nginx configuration as on a server in front of it. Pure apart from the template.
"""

from __future__ import annotations

from pathlib import Path

from ultra_env.config.settings import Settings
from ultra_env.operations.templates import render_template
from ultra_env.server import proxy

TEMPLATE = "k8s-team.yaml.j2"
OUTPUT = "k8s/team.yaml"
RUNNER_IMAGE = "docker/model-runner"
GPU = {"cuda": ("latest-cuda", "nvidia.com/gpu"), "rocm": ("latest-rocm", "amd.com/gpu")}
RUNNER_SERVICE = "docker-model-runner:80"


def manifests(settings: Settings, templates: Path) -> str:
    server = settings.server
    tag, resource = GPU.get(server.gpu, ("latest", None))
    proxy_image = server.proxy_image
    context = {
        "namespace": server.namespace,
        "runner_image": f"{RUNNER_IMAGE}:{tag}",
        "gpu_resource": resource,
        "gpu_count": server.gpu_count,
        "storage": server.storage,
        "models": settings.server_models,
        "busybox_image": "busybox:1.37",
        "curl_image": "curlimages/curl:8.14.1",
        "proxy_image": proxy_image,
        "nginx_conf": proxy.conf(settings, templates, listen="8080", upstream=RUNNER_SERVICE),
    }
    return render_template(templates, TEMPLATE, context)
