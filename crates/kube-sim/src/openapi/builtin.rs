//! Component schemas of the built-in kinds, generated from the `k8s-openapi` types rather than
//! shipped as a spec file, so they follow the crate's Kubernetes version without a copy to update.
//!
//! Generation walks every type a kind reaches (a `Pod` drags in most of `core/v1`), which takes a
//! noticeable fraction of a kube-sim start-up; it happens once per process, on first request.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::OnceLock;

use k8s_openapi::Resource;
use k8s_openapi::api::{
    apps, authentication, authorization, autoscaling, batch, coordination, core, networking,
    policy, rbac,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions;
use k8s_openapi::apimachinery::pkg::apis::meta;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::{JsonSchema, Schema};
use serde_json::{Map, Value, json};

/// A kind this module can describe: where it is served and how to generate its schema.
#[derive(Clone, Copy)]
pub(crate) struct Kind {
    pub group: &'static str,
    pub version: &'static str,
    pub name: &'static str,
    /// Adds the kind's schema (and everything it references) to the generator.
    add: fn(&mut SchemaGenerator) -> Schema,
    schema_name: fn() -> Cow<'static, str>,
}

impl std::fmt::Debug for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{} {}", self.group, self.version, self.name)
    }
}

impl Kind {
    /// The component name the kind's schema is stored under.
    pub fn schema_name(&self) -> Cow<'static, str> {
        (self.schema_name)()
    }
}

const fn kind<T: Resource + JsonSchema>() -> Kind {
    Kind {
        group: T::GROUP,
        version: T::VERSION,
        name: T::KIND,
        add: SchemaGenerator::subschema_for::<T>,
        schema_name: T::schema_name,
    }
}

/// Every kind the registry serves as a built-in. A kind missing here is still served, with a
/// schema that accepts anything (a unit test catches the omission).
pub(crate) const KINDS: &[Kind] = &[
    kind::<core::v1::Namespace>(),
    kind::<core::v1::Node>(),
    kind::<core::v1::ConfigMap>(),
    kind::<core::v1::Secret>(),
    kind::<core::v1::Service>(),
    kind::<core::v1::ServiceAccount>(),
    kind::<core::v1::Pod>(),
    kind::<core::v1::Event>(),
    kind::<core::v1::PersistentVolumeClaim>(),
    kind::<core::v1::Endpoints>(),
    kind::<core::v1::ResourceQuota>(),
    kind::<apps::v1::Deployment>(),
    kind::<apps::v1::StatefulSet>(),
    kind::<apps::v1::DaemonSet>(),
    kind::<apps::v1::ReplicaSet>(),
    kind::<apps::v1::ControllerRevision>(),
    kind::<batch::v1::Job>(),
    kind::<batch::v1::CronJob>(),
    kind::<networking::v1::Ingress>(),
    kind::<networking::v1::NetworkPolicy>(),
    kind::<rbac::v1::Role>(),
    kind::<rbac::v1::RoleBinding>(),
    kind::<rbac::v1::ClusterRole>(),
    kind::<rbac::v1::ClusterRoleBinding>(),
    kind::<coordination::v1::Lease>(),
    kind::<authorization::v1::SelfSubjectAccessReview>(),
    kind::<authorization::v1::SelfSubjectRulesReview>(),
    kind::<authorization::v1::SubjectAccessReview>(),
    kind::<authorization::v1::LocalSubjectAccessReview>(),
    kind::<authentication::v1::SelfSubjectReview>(),
    kind::<autoscaling::v2::HorizontalPodAutoscaler>(),
    kind::<policy::v1::PodDisruptionBudget>(),
    kind::<apiextensions::v1::CustomResourceDefinition>(),
];

/// The kind served through every `scale` subresource (of built-ins and custom resources alike).
pub(crate) const SCALE: Kind = kind::<autoscaling::v1::Scale>();

pub(crate) const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
pub(crate) const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
pub(crate) const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
pub(crate) const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
pub(crate) const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";

/// The built-in kind served at this group/version with this kind name.
pub(crate) fn find(group: &str, version: &str, kind: &str) -> Option<&'static Kind> {
    KINDS
        .iter()
        .find(|k| k.group == group && k.version == version && k.name == kind)
}

/// Component schemas, by name.
pub(crate) type Schemas = Map<String, Value>;

/// The schemas every document needs whatever it serves: object and list metadata, the `Status`,
/// `DeleteOptions` and `Patch` that operations refer to, and `Scale` for scale subresources.
pub(crate) fn common() -> &'static Schemas {
    static COMMON: OnceLock<Schemas> = OnceLock::new();
    COMMON.get_or_init(|| {
        let mut generator = SchemaGenerator::new(SchemaSettings::openapi3());
        add_common(&mut generator);
        finish(&mut generator, &[SCALE])
    })
}

/// The schemas of all built-in kinds of every group/version, with what they reference and the
/// common schemas. Generated on first use only.
pub(crate) fn by_group_version() -> &'static BTreeMap<(&'static str, &'static str), Schemas> {
    static ALL: OnceLock<BTreeMap<(&'static str, &'static str), Schemas>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut grouped: BTreeMap<(&'static str, &'static str), Vec<Kind>> = BTreeMap::new();
        for k in KINDS {
            grouped.entry((k.group, k.version)).or_default().push(*k);
        }
        grouped
            .into_iter()
            .map(|(gv, mut kinds)| {
                let mut generator = SchemaGenerator::new(SchemaSettings::openapi3());
                add_common(&mut generator);
                for k in &kinds {
                    (k.add)(&mut generator);
                }
                kinds.push(SCALE);
                (gv, finish(&mut generator, &kinds))
            })
            .collect()
    })
}

fn add_common(generator: &mut SchemaGenerator) {
    (SCALE.add)(generator);
    generator.subschema_for::<meta::v1::ObjectMeta>();
    generator.subschema_for::<meta::v1::ListMeta>();
    generator.subschema_for::<meta::v1::Status>();
    generator.subschema_for::<meta::v1::DeleteOptions>();
    generator.subschema_for::<meta::v1::Patch>();
}

/// Takes the generated definitions, tags each kind with its group-version-kind (how kubectl finds
/// a kind's schema) and adds a list schema per kind (the generic `List<T>` has no schema of its
/// own in `k8s-openapi`).
fn finish(generator: &mut SchemaGenerator, kinds: &[Kind]) -> Schemas {
    let mut schemas = generator.take_definitions(true);
    for k in kinds {
        let name = k.schema_name();
        if let Some(Value::Object(schema)) = schemas.get_mut(name.as_ref()) {
            schema.insert(
                "x-kubernetes-group-version-kind".to_owned(),
                gvk(k.group, k.version, k.name),
            );
        }
        if k.name != SCALE.name {
            let (list_name, list) = list_schema(&name, k.group, k.version, k.name);
            schemas.insert(list_name, list);
        }
    }
    schemas
}

/// The value of `x-kubernetes-group-version-kind` on a component schema: a list, because one Go
/// type may be served under several group-versions.
pub(crate) fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!([{ "group": group, "kind": kind, "version": version }])
}

/// `FooList` for the schema named `item_name`: named as Kubernetes names it (the item's name with
/// `List` appended), holding `items` of the item schema.
pub(crate) fn list_schema(
    item_name: &str,
    group: &str,
    version: &str,
    kind: &str,
) -> (String, Value) {
    let list_kind = format!("{kind}List");
    let schema = json!({
        "description": format!("{list_kind} is a list of {kind} objects."),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": { "type": "string", "description": API_VERSION_DOC },
            "kind": { "type": "string", "description": KIND_DOC },
            "items": {
                "type": "array",
                "description": format!("List of {kind} objects."),
                "items": { "$ref": format!("#/components/schemas/{item_name}") },
            },
            "metadata": {
                "description": "Standard list metadata.",
                "allOf": [{ "$ref": format!("#/components/schemas/{LIST_META}") }],
            },
        },
        "x-kubernetes-group-version-kind": gvk(group, version, &list_kind),
    });
    (format!("{item_name}List"), schema)
}

pub(crate) const API_VERSION_DOC: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values.";
pub(crate) const KIND_DOC: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. In CamelCase.";
