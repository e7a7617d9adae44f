//! Finding and reading the kubeconfig the way kubectl does, with errors that name the file.
//!
//! Order: `--kubeconfig` (exactly that file); else `KUBECONFIG`, a list of files merged by
//! kube's `Kubeconfig::merge` (the first file to set a value wins, as in kubectl); else
//! `~/.kube/config`; else the pod's service account when running in a cluster. Two choices
//! differ from kubectl, for a CI tool's sake: a `KUBECONFIG` entry that does not exist is a
//! warning rather than silence (a typo there otherwise falls through to another cluster's
//! credentials), and an empty result is an error naming every place we looked.
//!
//! Variables come from the run's environment (`stage::Env`), not the process's, so tests and the
//! stage runner see the same thing.

use std::path::{Path, PathBuf};

use kube::config::Kubeconfig;
use stage::{Env, StageError};

/// Where the cluster configuration came from.
#[derive(Debug)]
pub(crate) enum Found {
    /// One or more kubeconfig files, merged.
    Files {
        paths: Vec<PathBuf>,
        config: Box<Kubeconfig>,
    },
    /// The service account of the pod we run in.
    InCluster,
}

fn var<'a>(env: &'a Env, name: &str) -> Option<&'a str> {
    env.get(name).filter(|v| !v.is_empty())
}

pub(crate) fn locate(env: &Env, explicit: Option<&Path>) -> Result<Found, StageError> {
    if let Some(path) = explicit {
        if !path.exists() {
            return Err(StageError::invalid_input(format!(
                "kubeconfig {} does not exist",
                path.display()
            ))
            .with_hint("pass the path of an existing kubeconfig to --kubeconfig"));
        }
        return read_files(vec![path.to_path_buf()]);
    }
    if let Some(list) = var(env, "KUBECONFIG") {
        let listed: Vec<PathBuf> = std::env::split_paths(list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        let (present, missing): (Vec<PathBuf>, Vec<PathBuf>) =
            listed.into_iter().partition(|p| p.exists());
        if present.is_empty() {
            return Err(StageError::invalid_input(format!(
                "KUBECONFIG={list} names no file that exists"
            ))
            .with_hint("point KUBECONFIG at a kubeconfig (eks-token kubeconfig writes one)"));
        }
        for path in &missing {
            tracing::warn!("KUBECONFIG lists {}, which does not exist", path.display());
        }
        return read_files(present);
    }
    if let Some(home) = var(env, "HOME") {
        let default = Path::new(home).join(".kube").join("config");
        if default.exists() {
            return read_files(vec![default]);
        }
    }
    if var(env, "KUBERNETES_SERVICE_HOST").is_some() {
        return Ok(Found::InCluster);
    }
    Err(StageError::invalid_input(
        "no cluster configuration: no --kubeconfig, KUBECONFIG is not set, ~/.kube/config does \
         not exist, and this is not a pod in a cluster",
    )
    .with_hint("pass --kubeconfig, set KUBECONFIG, or write one with `eks-token kubeconfig`"))
}

fn read_files(paths: Vec<PathBuf>) -> Result<Found, StageError> {
    let mut merged: Option<Kubeconfig> = None;
    for path in &paths {
        let config = Kubeconfig::read_from(path).map_err(|e| {
            StageError::invalid_input(format!("cannot read kubeconfig {}: {e}", path.display()))
        })?;
        merged = Some(match merged {
            None => config,
            Some(m) => m.merge(config).map_err(|e| {
                StageError::invalid_input(format!(
                    "cannot merge kubeconfig {}: {e}",
                    path.display()
                ))
            })?,
        });
    }
    Ok(Found::Files {
        config: Box::new(merged.unwrap_or_default()),
        paths,
    })
}

/// `a.yaml` or `a.yaml:b.yaml`, for messages.
pub(crate) fn describe(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":")
}

/// The context to use: the one asked for, else the current one; an error lists the contexts the
/// files do have, which is what the user needs to fix the command.
pub(crate) fn choose_context(
    config: &Kubeconfig,
    requested: Option<&str>,
    paths: &[PathBuf],
) -> Result<String, StageError> {
    let names: Vec<&str> = config.contexts.iter().map(|c| c.name.as_str()).collect();
    let listing = if names.is_empty() {
        "it has no contexts".to_owned()
    } else {
        format!("it has: {}", names.join(", "))
    };
    let chosen = match requested.or(config.current_context.as_deref()) {
        Some(name) if !name.is_empty() => name,
        _ => {
            return Err(StageError::invalid_input(format!(
                "kubeconfig {} sets no current-context and no --context was given; {listing}",
                describe(paths)
            ))
            .with_hint("pass --context NAME"));
        }
    };
    if names.contains(&chosen) {
        Ok(chosen.to_owned())
    } else {
        Err(StageError::invalid_input(format!(
            "context {chosen:?} is not in kubeconfig {}; {listing}",
            describe(paths)
        ))
        .with_hint("pass --context with one of the names above"))
    }
}
