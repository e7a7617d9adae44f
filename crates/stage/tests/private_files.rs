//! The one private-file writer (issue 12, Secrets 4) on a real file system: planted symbolic
//! links, a directory of another user, a directory anyone can write. The tests run as root here,
//! so "another user" is made with chown.

// Test helpers may unwrap: a panic with the value is the clearest failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};

use stage::private_file::{Dir, Links, effective_uid, write};

/// A uid nobody on the test machine is.
const FOREIGN_UID: u32 = 54_321;

#[test]
fn a_planted_symlink_is_refused_and_its_target_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    fs::write(&victim, "precious").unwrap();
    let link = dir.path().join("token.json");
    symlink(&victim, &link).unwrap();
    let err = write(&link, b"secret", Links::Refuse, Dir::Any).unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn a_kubeconfig_link_is_followed_to_our_own_file_and_stays_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real-config");
    fs::write(&real, "old").unwrap();
    fs::set_permissions(&real, fs::Permissions::from_mode(0o644)).unwrap();
    let link = dir.path().join("config");
    symlink(&real, &link).unwrap();
    let written = write(&link, b"new", Links::FollowOwn, Dir::Any).unwrap();
    assert_eq!(written, fs::canonicalize(&real).unwrap());
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::read_to_string(&link).unwrap(), "new");
    assert_eq!(fs::metadata(&real).unwrap().mode() & 0o777, 0o600);
}

#[test]
fn a_kubeconfig_link_to_another_users_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let theirs = dir.path().join("theirs");
    fs::write(&theirs, "theirs").unwrap();
    std::os::unix::fs::chown(&theirs, Some(FOREIGN_UID), None).unwrap();
    let link = dir.path().join("config");
    symlink(&theirs, &link).unwrap();
    let err = write(&link, b"ours", Links::FollowOwn, Dir::Any).unwrap_err();
    assert!(err.to_string().contains("belongs to uid 54321"), "{err}");
    assert_eq!(fs::read_to_string(&theirs).unwrap(), "theirs");
}

#[test]
fn a_cache_directory_of_another_user_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    fs::create_dir(&cache).unwrap();
    fs::set_permissions(&cache, fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&cache, Some(FOREIGN_UID), None).unwrap();
    let err = write(
        &cache.join("t.json"),
        b"secret",
        Links::Refuse,
        Dir::Private,
    )
    .unwrap_err();
    assert!(err.to_string().contains("belongs to uid 54321"), "{err}");
    assert_eq!(
        fs::read_dir(&cache).unwrap().count(),
        0,
        "nothing was written"
    );
}

#[test]
fn a_cache_directory_others_can_write_is_refused_and_a_private_one_used() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    fs::create_dir(&cache).unwrap();
    fs::set_permissions(&cache, fs::Permissions::from_mode(0o777)).unwrap();
    let err = write(
        &cache.join("t.json"),
        b"secret",
        Links::Refuse,
        Dir::Private,
    )
    .unwrap_err();
    assert!(err.to_string().contains("other users can write"), "{err}");
    assert_eq!(
        fs::read_dir(&cache).unwrap().count(),
        0,
        "nothing was written"
    );

    fs::set_permissions(&cache, fs::Permissions::from_mode(0o700)).unwrap();
    let file = cache.join("t.json");
    write(&file, b"secret", Links::Refuse, Dir::Private).unwrap();
    let meta = fs::metadata(&file).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600);
    assert_eq!(meta.uid(), effective_uid().unwrap());
}

#[test]
fn a_missing_directory_is_created_private() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a/b/creds");
    write(&file, b"x", Links::Refuse, Dir::Private).unwrap();
    assert_eq!(
        fs::metadata(dir.path().join("a/b")).unwrap().mode() & 0o777,
        0o700
    );
}
