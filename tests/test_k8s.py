"""The team's model server for Kubernetes (``invoke server.k8s``, issue 21): the manifests validated
offline against the Kubernetes API's own schemas (the kubernetes-validate package, strict: an unknown
field fails), shaped as Model Runner's Helm chart runs the runner (docker/model-runner 642c7211,
charts/docker-model-runner/templates/deployment.yaml and values.yaml: image variants, GPU resource
names, /models, probes on /engines/status port 12434), and the proxy's configuration read by the real
nginx. What only a real cluster shows (scheduling, the GPU device plugin, storage classes, DNS, an
Ingress with TLS) is in docs/team.md."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import Project

from ultra_env.config.settings import Settings
from ultra_env.server import cluster

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
KUBERNETES = ["1.28.0", "1.33.0"]  # versions of the API the manifests must fit


def documents(settings: Settings) -> dict[str, dict]:
    docs = [d for d in yaml.safe_load_all(cluster.manifests(settings, TEMPLATES)) if d]
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}


def container(doc: dict, index: int = 0) -> dict:
    return doc["spec"]["template"]["spec"]["containers"][index]


@pytest.mark.parametrize(
    ("gpu", "tag", "resource"),
    [("none", "latest", None), ("auto", "latest", None), ("cuda", "latest-cuda", "nvidia.com/gpu"),
     ("rocm", "latest-rocm", "amd.com/gpu")],
)  # fmt: skip
@pytest.mark.parametrize("version", KUBERNETES)
def test_the_manifests_fit_the_kubernetes_api_and_run_the_runner_as_its_chart_does(
    gpu: str, tag: str, resource: str | None, version: str
) -> None:
    import kubernetes_validate

    settings = Settings.model_validate(
        {"models": [{"name": "ai/smollm2"}, {"name": "ai/gemma3"}], "server": {"gpu": gpu, "gpu_count": 2}}
    )
    found = documents(settings)
    for doc in found.values():
        kubernetes_validate.validate(doc, version, strict=True)
    assert set(found) == {
        "Namespace/ultra-team", "Deployment/docker-model-runner", "Service/docker-model-runner",
        "Job/ultra-team-models", "ConfigMap/ultra-team-proxy", "Deployment/ultra-team-proxy",
        "Service/ultra-team-proxy",
    }  # fmt: skip
    runner = container(found["Deployment/docker-model-runner"])
    assert runner["image"] == f"docker/model-runner:{tag}"
    assert runner.get("resources", {}).get("limits") == ({resource: 2} if resource else None)
    for probe in ("readinessProbe", "livenessProbe"):
        assert runner[probe]["httpGet"] == {"path": "/engines/status", "port": 12434}
    assert {"name": "model-store", "mountPath": "/models"} in runner["volumeMounts"]
    store = found["Deployment/docker-model-runner"]["spec"]["template"]["spec"]["volumes"][0]
    assert store["ephemeral"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"] == "100Gi"
    pull = container(found["Job/ultra-team-models"])
    assert pull["env"] == [{"name": "MODELS", "value": " ".join(m.name for m in settings.models)}]
    assert "http://docker-model-runner/models/create" in pull["args"][0]
    service = found["Service/docker-model-runner"]["spec"]
    assert service["type"] == "ClusterIP" and service["ports"][0]["targetPort"] == 12434  # no way in but the proxy


def test_the_proxy_admits_only_listed_keys_and_reaches_the_runners_service() -> None:
    found = documents(Settings())
    conf = found["ConfigMap/ultra-team-proxy"]["data"]["nginx.conf"]
    assert "proxy_pass http://docker-model-runner:80;" in conf and "listen 8080;" in conf
    assert "include /etc/ultra-proxy/keys.map;" in conf and "$developer" in conf  # no Compose-style $$ here
    proxy = found["Deployment/ultra-team-proxy"]["spec"]["template"]["spec"]
    assert {"name": "keys", "secret": {"secretName": "ultra-team-proxy-keys"}} in proxy["volumes"]
    assert container(found["Deployment/ultra-team-proxy"])["command"] == ["nginx", "-c", "/etc/ultra-nginx/nginx.conf"]


@pytest.mark.docker
def test_the_real_nginx_reads_the_clusters_proxy_configuration(tmp_path: Path) -> None:
    """nginx -t in the test image (Debian's nginx), the runner's Service name resolved as the cluster's
    DNS would resolve it."""
    conf = documents(Settings())["ConfigMap/ultra-team-proxy"]["data"]["nginx.conf"]
    (tmp_path / "nginx.conf").write_text(conf)
    (tmp_path / "keys.map").write_text('"Bearer ultra-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN" "alice";\n')
    done = subprocess.run(
        ["docker", "run", "--rm", "--add-host", "docker-model-runner:127.0.0.1",
         "-v", f"{tmp_path / 'nginx.conf'}:/etc/ultra-nginx/nginx.conf:ro",
         "-v", f"{tmp_path / 'keys.map'}:/etc/ultra-proxy/keys.map:ro",
         "ultra-test/debian:12", "nginx", "-t", "-c", "/etc/ultra-nginx/nginx.conf"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0 and "test is successful" in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("table", "said"), [({"namespace": "Ultra_Team"}, "namespace"), ({"storage": "lots"}, "storage")]
)
def test_a_bad_cluster_setting_is_refused(table: dict, said: str) -> None:
    with pytest.raises(ValueError, match=f"server.{said}"):
        Settings.model_validate({"server": table})


def test_the_task_writes_the_manifests_once_and_keeps_an_edit(project: Project) -> None:
    project.write("ultra-env.toml", '[server]\ngpu = "cuda"\n')
    assert project.call("server.k8s", "--check").returncode == 0 and not (project.root / "k8s").exists()
    first = project.call("server.k8s")
    assert first.returncode == 0 and "created" in first.output, first.output
    again = project.call("server.k8s")
    assert again.returncode == 0 and "up to date" in again.output, again.output
    edited = project.read("k8s/team.yaml").replace("replicas: 1", "replicas: 3", 1)
    project.write("k8s/team.yaml", edited)
    project.write("ultra-env.toml", '[server]\ngpu = "rocm"\n')
    kept = project.call("server.k8s")
    assert kept.returncode == 1 and "your edits are kept" in kept.output and project.read("k8s/team.yaml") == edited
    forced = project.call("server.k8s", "--force")
    assert forced.returncode == 0 and "latest-rocm" in project.read("k8s/team.yaml"), forced.output
    assert list((project.root / ".ultra-env" / "backups").glob("team.yaml*")), "the edited file was backed up"
