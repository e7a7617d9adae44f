//! A set refused for a limit is refused before the first write (issue 12 item 11): a release
//! whose revision record would not fit in a Secret exits 2 and leaves no Namespace, no deploy
//! lock and no `ApplySet` parent behind.

// Test helpers may unwrap: a panic with the value is the clearest failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fmt::Write as _;

use common::{k8s_apply, write};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, ListParams};
use kube_sim::{Config, KubeSim};

/// `len` characters that gzip cannot shrink much (a fixed pseudo-random sequence over 64
/// characters: about 6 bits of each 8 survive compression).
fn noise(seed: u64, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(ALPHABET[usize::try_from(state % 64).unwrap()])
        })
        .collect()
}

#[test]
fn a_set_too_big_to_record_is_refused_before_anything_is_written() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // 24 ConfigMaps of 64 KB each: 1.5 MB of data, about 1.2 MB compressed.
    let mut set = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: big\n".to_owned();
    for i in 0..24 {
        write!(
            set,
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: blob-{i}\n  namespace: big\n\
             data:\n  blob: {}\n",
            noise(i, 64 * 1024)
        )
        .unwrap();
    }
    let file = write(dir.path(), "big.yaml", &set);
    let run = k8s_apply(
        sim.kubeconfig_path(),
        &[
            "-f",
            &file,
            "--release",
            "big",
            "-n",
            "big",
            "--lock-holder",
            "test",
        ],
    );
    run.assert_code(2);
    assert!(run.objects().is_empty(), "{}", run.doc);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = sim.client().await.unwrap();
        assert!(
            Api::<Namespace>::all(client.clone())
                .get_opt("big")
                .await
                .unwrap()
                .is_none(),
            "the release's Namespace was created"
        );
        // Nothing anywhere: no Lease, no ApplySet parent, no record, in any namespace.
        let leases = Api::<Lease>::all(client.clone())
            .list(&ListParams::default().labels("pipewright.dev/release=big"))
            .await
            .unwrap();
        assert!(
            leases.items.is_empty(),
            "a Lease was left: {:?}",
            leases.items
        );
        let ours = Api::<Secret>::all(client)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|s| s.metadata.name)
            .filter(|name| name.starts_with("pipewright"))
            .collect::<Vec<_>>();
        assert!(ours.is_empty(), "left behind: {ours:?}");
    });
    // Checked last: what matters most is what the cluster holds.
    assert!(
        run.message().contains("a Secret can hold")
            && run.message().contains("nothing was changed"),
        "{}",
        run.message()
    );
}
