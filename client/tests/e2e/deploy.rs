//! The deployment files, as users apply them: the Kubernetes manifests
//! validate offline against the API's schemas in strict mode and keep what a
//! fleet relies on (three replicas, gRPC probes, a grace period that outlasts
//! the server's own, a headless Service the client resolves), and every
//! container and Compose service runs a command line and environment that
//! the binaries' own parsers accept.
//!
//! Strict validation needs PyPI's `kubernetes-validate` on the PATH (CI
//! installs it from `deploy/requirements.txt`); without it that test says so
//! and passes, unless `CI` or `BOOKSTREAM_REQUIRE_KUBERNETES_VALIDATE` is set.

use std::{
    ffi::OsStr,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use bookstream::pb::recommendations_server::SERVICE_NAME;
use bookstream_client::ClientConfig;
use bookstream_server::config::Cli as ServerCli;
use clap::{CommandFactory, Parser};
use serde::Deserialize;
use serde_norway::Value;

/// The oldest Kubernetes with GA gRPC probes, and the newest the pinned
/// validator knows.
const KUBERNETES_VERSIONS: [&str; 2] = ["1.27.0", "1.37.0"];
/// The image's `CMD`: what a container without `args` runs.
const IMAGE_COMMAND: &str = "server";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the client crate sits in the workspace")
        .to_path_buf()
}

fn manifest_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("deploy/k8s"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension() == Some(OsStr::new("yaml")))
        .collect();
    files.sort();
    files
}

fn yaml_documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_norway::Deserializer::from_str(&text)
        .map(|document| {
            let mut value = Value::deserialize(document)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            value.apply_merge().unwrap();
            value
        })
        .filter(|value| !value.is_null())
        .collect()
}

fn manifests() -> Vec<Value> {
    manifest_files()
        .iter()
        .flat_map(|path| yaml_documents(path))
        .collect()
}

fn find<'a>(manifests: &'a [Value], kind: &str, name: &str) -> &'a Value {
    manifests
        .iter()
        .find(|doc| doc["kind"] == kind && doc["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in deploy/k8s"))
}

fn text(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a string, found {value:?}"))
}

fn kubernetes_validate() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("kubernetes-validate"))
        .find(|candidate| candidate.is_file())
}

fn validate(validator: &Path, version: &str, files: &[PathBuf]) -> (bool, String) {
    let output = Command::new(validator)
        .args(["--strict", "--kubernetes-version", version])
        .args(files)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), said)
}

#[test]
fn every_manifest_validates_strictly_against_the_kubernetes_schemas() {
    let Some(validator) = kubernetes_validate() else {
        assert!(
            !bookstream_testkit::required("KUBERNETES_VALIDATE"),
            "kubernetes-validate is not on the PATH (pip install -r deploy/requirements.txt)"
        );
        eprintln!("skipped: kubernetes-validate is not on the PATH");
        return;
    };
    let files = manifest_files();
    assert!(files.len() >= 8, "deploy/k8s holds {files:?}");
    for version in KUBERNETES_VERSIONS {
        let (valid, said) = validate(&validator, version, &files);
        assert!(valid, "Kubernetes {version}:\n{said}");
    }

    // The same check rejects a field the API does not have.
    let dir = tempfile::tempdir().unwrap();
    let misspelt = dir.path().join("server-deployment.yaml");
    let original =
        std::fs::read_to_string(repo().join("deploy/k8s/server-deployment.yaml")).unwrap();
    assert!(original.contains("\n  replicas: 3\n"));
    std::fs::write(
        &misspelt,
        original.replace("\n  replicas: 3\n", "\n  replicas: 3\n  replica: 3\n"),
    )
    .unwrap();
    let (valid, said) = validate(&validator, KUBERNETES_VERSIONS[0], &[misspelt]);
    assert!(!valid && said.contains("replica"), "{said}");
}

#[test]
fn the_manifests_run_three_probed_servers_behind_a_headless_service_the_client_resolves() {
    let manifests = manifests();
    let server = find(&manifests, "Deployment", "bookstream-server");
    assert_eq!(server["spec"]["replicas"].as_u64(), Some(3));
    let pod = &server["spec"]["template"]["spec"];
    let labels = &server["spec"]["template"]["metadata"]["labels"];
    assert_eq!(&server["spec"]["selector"]["matchLabels"], labels);
    let container = &pod["containers"][0];

    // Native gRPC probes: readiness on the book service (NOT_SERVING while
    // the catalog is unreachable or empty), liveness on the whole server.
    let readiness = &container["readinessProbe"]["grpc"];
    assert_eq!(readiness["port"].as_u64(), Some(50051));
    assert_eq!(text(&readiness["service"]), SERVICE_NAME);
    assert_eq!(
        container["livenessProbe"]["grpc"]["port"].as_u64(),
        Some(50051)
    );

    // The kubelet waits out preStop, then the server's own grace after SIGTERM.
    let grace = humantime::parse_duration(text(&env_value(container, "BOOKSTREAM_SHUTDOWN_GRACE")))
        .unwrap();
    let pre_stop = &container["lifecycle"]["preStop"]["exec"]["command"];
    assert_eq!(text(&pre_stop[0]), "sleep");
    let pre_stop = Duration::from_secs(text(&pre_stop[1]).parse().unwrap());
    let termination = Duration::from_secs(pod["terminationGracePeriodSeconds"].as_u64().unwrap());
    assert!(
        termination > pre_stop + grace,
        "terminationGracePeriodSeconds {termination:?} must outlast preStop {pre_stop:?} + --shutdown-grace {grace:?}"
    );

    for bound in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(
                !container["resources"][bound][resource].is_null(),
                "server {bound}.{resource} missing"
            );
        }
    }
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(security["allowPrivilegeEscalation"].as_bool(), Some(false));

    // A headless Service publishes every ready server for the client's
    // resolver; a ClusterIP one serves the REST twins.
    let services: Vec<&Value> = manifests
        .iter()
        .filter(|doc| doc["kind"] == "Service" && &doc["spec"]["selector"] == labels)
        .collect();
    let headless = services
        .iter()
        .find(|service| service["spec"]["clusterIP"] == "None")
        .expect("a headless Service selects the servers");
    let ports = |service: &Value| -> Vec<u64> {
        service["spec"]["ports"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(|port| port["port"].as_u64())
            .collect()
    };
    assert!(ports(headless).contains(&50051));
    assert!(services.iter().any(|service| {
        service["spec"]["clusterIP"] != "None" && ports(service).contains(&8080)
    }));

    let client = find(&manifests, "Deployment", "bookstream-client");
    let args: Vec<&str> = client["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(text)
        .collect();
    let target = format!("dns:///{}:50051", text(&headless["metadata"]["name"]));
    let servers = args
        .iter()
        .position(|arg| *arg == "--server")
        .map(|at| args[at + 1]);
    assert!(
        servers.is_some_and(|servers| servers.split(',').any(|server| server == target)),
        "the client's --server must include {target}: {args:?}"
    );

    let autoscaler = find(&manifests, "HorizontalPodAutoscaler", "bookstream-server");
    assert_eq!(
        autoscaler["spec"]["scaleTargetRef"]["name"],
        server["metadata"]["name"]
    );
    assert!(autoscaler["spec"]["minReplicas"].as_u64() >= Some(3));
    let budget = find(&manifests, "PodDisruptionBudget", "bookstream-server");
    assert_eq!(&budget["spec"]["selector"]["matchLabels"], labels);
    assert!(
        budget["spec"]["minAvailable"].as_u64() < Some(3),
        "a budget of every replica would block every drain"
    );

    // The store's URL comes from the Secret, for the servers and the load Job alike.
    let load = find(&manifests, "Job", "bookstream-load");
    let load_container = &load["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(text(&load_container["args"][0]), "server");
    assert_eq!(text(&load_container["args"][1]), "load");
    for container in [container, load_container] {
        let catalog = env_entry(container, "BOOKSTREAM_CATALOG");
        assert!(
            catalog["value"].is_null(),
            "the catalog URL holds a password: it comes from a Secret"
        );
        assert!(!secret_value(&manifests, &catalog["valueFrom"]["secretKeyRef"]).is_empty());
    }
}

#[test]
fn every_container_command_and_environment_parses_with_the_binaries_own_flags() {
    let image_env = image_environment();
    for (name, _) in &image_env {
        assert!(
            env_flag(&ServerCli::command(), name).is_some()
                || env_flag(&ClientConfig::command(), name).is_some(),
            "the image sets {name}, which neither binary reads"
        );
    }

    let manifests = manifests();
    let mut checked = 0;
    for doc in &manifests {
        let containers = &doc["spec"]["template"]["spec"]["containers"];
        for container in containers.as_sequence().into_iter().flatten() {
            let argv = command_line(&container["args"]);
            let env: Vec<(String, String)> = container["env"]
                .as_sequence()
                .into_iter()
                .flatten()
                .map(|entry| {
                    let value = match entry["value"].as_str() {
                        Some(value) => value.to_owned(),
                        None => secret_value(&manifests, &entry["valueFrom"]["secretKeyRef"]),
                    };
                    (text(&entry["name"]).to_owned(), value)
                })
                .collect();
            let origin = format!("{} {}", text(&doc["kind"]), text(&doc["metadata"]["name"]));
            parse(&argv, &env, &image_env).unwrap_or_else(|error| panic!("{origin}: {error}"));
            checked += 1;
        }
    }
    assert_eq!(checked, 3, "the server, the client and the load Job");

    let compose = yaml_documents(&repo().join("compose.yaml")).remove(0);
    let services = compose["services"].as_mapping().unwrap();
    let mut ours = 0;
    for (name, service) in services {
        let name = text(name);
        assert!(
            !service["healthcheck"].is_null() || service["restart"] == "no",
            "compose service {name} has no healthcheck"
        );
        for (dependency, condition) in service["depends_on"].as_mapping().into_iter().flatten() {
            assert!(
                matches!(
                    text(&condition["condition"]),
                    "service_healthy" | "service_completed_successfully"
                ),
                "{name} starts before {} is ready",
                text(dependency)
            );
        }
        let environment: Vec<(String, String)> = service["environment"]
            .as_mapping()
            .into_iter()
            .flatten()
            .map(|(key, value)| (text(key).to_owned(), text(value).to_owned()))
            .collect();
        for (key, value) in &environment {
            let secret = key.contains("PASSWORD") || value.contains('@');
            assert!(
                !secret || value.contains("${"),
                "compose service {name} writes a secret into compose.yaml: {key}"
            );
        }
        if service["image"] != "bookstream" {
            continue;
        }
        let env: Vec<(String, String)> = environment
            .into_iter()
            .map(|(key, value)| (key, interpolated(&value)))
            .collect();
        parse(&command_line(&service["command"]), &env, &image_env)
            .unwrap_or_else(|error| panic!("compose service {name}: {error}"));
        ours += 1;
    }
    assert_eq!(ours, 4, "load, two servers and the client");
    let client = &services[&Value::from("client")];
    assert!(
        client["ports"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|port| port.as_str() == Some("3333:3333"))
    );
}

fn env_entry<'a>(container: &'a Value, name: &str) -> &'a Value {
    container["env"]
        .as_sequence()
        .into_iter()
        .flatten()
        .find(|entry| entry["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not set"))
}

fn env_value(container: &Value, name: &str) -> Value {
    env_entry(container, name)["value"].clone()
}

/// The Secret's value that a `secretKeyRef` names, from the manifests' own Secret.
fn secret_value(manifests: &[Value], reference: &Value) -> String {
    let secret = find(manifests, "Secret", text(&reference["name"]));
    text(&secret["stringData"][text(&reference["key"])]).to_owned()
}

/// The argv a container runs: its `args` or `command`, else the image's `CMD`.
fn command_line(args: &Value) -> Vec<String> {
    match args.as_sequence() {
        Some(args) => args.iter().map(|arg| text(arg).to_owned()).collect(),
        None => vec![IMAGE_COMMAND.to_owned()],
    }
}

/// The runtime stage's `ENV` settings, and a check that its `CMD` is [`IMAGE_COMMAND`].
fn image_environment() -> Vec<(String, String)> {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let runtime = dockerfile.split("\nFROM ").last().expect("a runtime stage");
    assert!(
        runtime.contains(&format!("\nCMD [\"{IMAGE_COMMAND}\"]")),
        "the image's CMD changed"
    );
    let statement = runtime
        .split("\nENV ")
        .nth(1)
        .expect("the runtime stage sets ENV");
    let mut settings = Vec::new();
    for line in statement.lines() {
        for word in line.split_whitespace() {
            if let Some((key, value)) = word.split_once('=') {
                settings.push((key.to_owned(), value.to_owned()));
            }
        }
        if !line.trim_end().ends_with('\\') {
            break;
        }
    }
    assert!(!settings.is_empty());
    settings
}

/// Compose's `${NAME}` and `${NAME:?message}` with a stand-in value.
fn interpolated(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("a closed ${…}") + start;
        out.push_str("stand-in");
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Parses a container's command line as its binary does, with its
/// environment applied as clap's env fallback would: the container's own
/// variables must all be the binary's, the image's apply where they are.
fn parse(
    argv: &[String],
    env: &[(String, String)],
    image_env: &[(String, String)],
) -> Result<(), String> {
    match argv.first().map(String::as_str) {
        Some("server") => parse_as::<ServerCli>(argv, env, image_env),
        Some("client") => parse_as::<ClientConfig>(argv, env, image_env),
        other => Err(format!("runs {other:?}, which is not a Bookstream binary")),
    }
}

fn parse_as<P: Parser + CommandFactory>(
    argv: &[String],
    env: &[(String, String)],
    image_env: &[(String, String)],
) -> Result<(), String> {
    let command = P::command();
    let scope = argv
        .get(1)
        .and_then(|name| command.find_subcommand(name))
        .unwrap_or(&command);
    let mut full = argv.to_vec();
    let settings = env
        .iter()
        .map(|setting| (setting, true))
        .chain(image_env.iter().map(|setting| (setting, false)));
    for ((name, value), required) in settings {
        if !name.starts_with("BOOKSTREAM_") {
            continue;
        }
        let Some(long) = env_flag(scope, name) else {
            if required {
                return Err(format!("`{}` does not read {name}", argv.join(" ")));
            }
            continue;
        };
        let flag = format!("--{long}");
        let given = full
            .iter()
            .any(|arg| *arg == flag || arg.starts_with(&format!("{flag}=")));
        if !given {
            full.push(format!("{flag}={value}"));
        }
    }
    P::try_parse_from(&full)
        .map(drop)
        .map_err(|error| format!("`{}`: {error}", full.join(" ")))
}

/// The long flag that the environment variable `name` stands for.
fn env_flag(command: &clap::Command, name: &str) -> Option<String> {
    command
        .get_arguments()
        .find(|arg| arg.get_env() == Some(OsStr::new(name)))
        .and_then(|arg| arg.get_long())
        .map(str::to_owned)
}
