//! The real kubectl against kube-sim, for what depends on the OpenAPI documents: server-side apply
//! with kubectl's default validation, server dry-run, custom resources, unknown fields refused, and
//! `kubectl explain`.

mod common;

use common::Kubectl;

const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 80
";

const MANIFESTS: &str = "\
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data: {mode: fast}
---
apiVersion: v1
kind: Secret
metadata: {name: credentials, namespace: shop}
type: Opaque
stringData: {password: hunter2}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: pg, image: 'postgres:16', resources: {limits: {memory: 1Gi, cpu: 500m}}}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: shop}
spec:
  rules:
  - host: shop.example.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Ingress]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader, namespace: shop}
rules: [{apiGroups: [''], resources: [pods], verbs: [get, list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects: [{kind: ServiceAccount, name: default, namespace: shop}]
";

const CRD: &str = "\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, description: How big the widget is.}
";

const WIDGET: &str = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1, namespace: default}\nspec: {size: 3}\n";

#[test]
fn server_side_apply_with_default_validation() {
    let Some(k) = Kubectl::start("server_side_apply_with_default_validation") else {
        return;
    };
    let file = k.file("deployment.yaml", DEPLOYMENT);
    let out = k.ok(&["apply", "--server-side", "-f", &file]);
    assert!(
        out.contains("deployment.apps/web serverside-applied"),
        "{out}"
    );
    let replicas = k.ok(&[
        "get",
        "deployment",
        "web",
        "-o",
        "jsonpath={.spec.replicas}",
    ]);
    assert_eq!(replicas, "2");

    let file = k.file("manifests.yaml", MANIFESTS);
    let out = k.ok(&["apply", "--server-side", "-f", &file]);
    for applied in [
        "namespace/shop",
        "configmap/settings",
        "secret/credentials",
        "service/web",
        "statefulset.apps/db",
        "ingress.networking.k8s.io/web",
        "networkpolicy.networking.k8s.io/deny-all",
        "role.rbac.authorization.k8s.io/reader",
        "rolebinding.rbac.authorization.k8s.io/reader",
    ] {
        assert!(
            out.contains(&format!("{applied} serverside-applied")),
            "{applied} missing from: {out}"
        );
    }
}

#[test]
fn server_side_dry_run_validates_and_persists_nothing() {
    let Some(k) = Kubectl::start("server_side_dry_run_validates_and_persists_nothing") else {
        return;
    };
    let file = k.file("deployment.yaml", DEPLOYMENT);
    let out = k.ok(&["apply", "--server-side", "--dry-run=server", "-f", &file]);
    assert!(
        out.contains("deployment.apps/web serverside-applied (server dry run)"),
        "{out}"
    );
    let err = k.fails(&["get", "deployment", "web"]);
    assert!(
        err.contains("NotFound") || err.contains("not found"),
        "{err}"
    );
}

// kubectl leaves unknown fields to the server (it sends `fieldValidation=Strict`); these pass once
// the apply handler refuses what `kube_sim::openapi::undeclared_fields` finds.
#[test]
fn unknown_fields_are_refused_under_default_validation() {
    let Some(k) = Kubectl::start("unknown_fields_are_refused_under_default_validation") else {
        return;
    };
    let file = k.file(
        "typo.yaml",
        &DEPLOYMENT.replace("  replicas: 2\n", "  replicas: 2\n  replicaz: 3\n"),
    );
    let err = k.fails(&["apply", "--server-side", "-f", &file]);
    assert!(
        err.contains(".spec.replicaz: field not declared in schema"),
        "{err}"
    );
    k.fails(&["get", "deployment", "web"]);
}

#[test]
fn custom_resources_apply_and_explain_from_their_crd() {
    let Some(k) = Kubectl::start("custom_resources_apply_and_explain_from_their_crd") else {
        return;
    };
    let crd = k.file("crd.yaml", CRD);
    let out = k.ok(&["apply", "--server-side", "-f", &crd]);
    assert!(
        out.contains(
            "customresourcedefinition.apiextensions.k8s.io/widgets.example.com serverside-applied"
        ),
        "{out}"
    );
    let file = k.file("widget.yaml", WIDGET);
    let out = k.ok(&["apply", "--server-side", "-f", &file]);
    assert!(
        out.contains("widget.example.com/w1 serverside-applied"),
        "{out}"
    );
    let explained = k.ok(&["explain", "widget.spec.size"]);
    assert!(explained.contains("How big the widget is."), "{explained}");
}

#[test]
fn unknown_fields_of_custom_resources_are_refused() {
    let Some(k) = Kubectl::start("unknown_fields_of_custom_resources_are_refused") else {
        return;
    };
    let crd = k.file("crd.yaml", CRD);
    k.ok(&["apply", "--server-side", "-f", &crd]);
    let file = k.file(
        "typo.yaml",
        &WIDGET.replace("size: 3", "size: 3, colour: red"),
    );
    let err = k.fails(&["apply", "--server-side", "-f", &file]);
    assert!(
        err.contains(".spec.colour: field not declared in schema"),
        "{err}"
    );
}

#[test]
fn explain_reads_the_built_in_schemas() {
    let Some(k) = Kubectl::start("explain_reads_the_built_in_schemas") else {
        return;
    };
    let out = k.ok(&["explain", "deployment.spec"]);
    assert!(out.contains("KIND:       Deployment"), "{out}");
    assert!(out.contains("FIELD: spec <DeploymentSpec>"), "{out}");
    assert!(out.contains("replicas\t<integer>"), "{out}");
    let out = k.ok(&["explain", "service.spec.ports", "--recursive"]);
    assert!(out.contains("targetPort\t<IntOrString>"), "{out}");
}
