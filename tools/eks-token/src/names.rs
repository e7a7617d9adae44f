//! Checks of names given on the command line, done before anything is signed or sent, so that a
//! typo is a usage error (exit 2) that says what is wrong instead of a token EKS refuses later.

use stage::StageError;

/// An EKS cluster name (or a local cluster's id): 1 to 100 letters, digits, `-` and `_`,
/// starting with a letter or digit (EKS's own rule).
pub fn check_cluster(name: &str) -> Result<(), StageError> {
    let valid = (1..=100).contains(&name.len())
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(StageError::usage(format!(
            "--cluster {name:?} is not an EKS cluster name"
        ))
        .with_hint(
            "EKS cluster names are 1-100 letters, digits, '-' and '_', starting with a letter or digit (the name, not the ARN)",
        ))
    }
}

/// An IAM role ARN: `arn:<partition>:iam::<12-digit account>:role/<path/>name`.
pub fn check_role_arn(arn: &str) -> Result<(), StageError> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let valid = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "iam"
        && parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5]
            .strip_prefix("role/")
            .is_some_and(|name| !name.is_empty() && !name.ends_with('/'));
    if valid {
        Ok(())
    } else {
        Err(
            StageError::usage(format!("--role-arn {arn:?} is not an IAM role ARN"))
                .with_hint("role ARNs look like arn:aws:iam::123456789012:role/eks-deploy"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cluster_names() {
        for good in ["prod", "a", "my_cluster-2", &"x".repeat(100)] {
            check_cluster(good).unwrap();
        }
        for bad in [
            "",
            "-prod",
            "_prod",
            "my cluster",
            "prod/eu",
            "arn:aws:eks:eu-west-1:123456789012:cluster/prod",
            &"x".repeat(101),
        ] {
            assert_eq!(check_cluster(bad).unwrap_err().exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn role_arns() {
        for good in [
            "arn:aws:iam::123456789012:role/deploy",
            "arn:aws-cn:iam::123456789012:role/ci/deploy",
            "arn:aws-us-gov:iam::123456789012:role/a",
        ] {
            check_role_arn(good).unwrap();
        }
        for bad in [
            "",
            "deploy",
            "arn:aws:iam::12345678901:role/deploy",
            "arn:aws:iam::123456789012:user/deploy",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:sts::123456789012:role/deploy",
        ] {
            assert!(check_role_arn(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn every_accepted_cluster_name_is_safe_in_a_file_name_and_a_header(name in "\\PC{0,120}") {
            if check_cluster(&name).is_ok() {
                prop_assert!(!name.contains('/') && !name.contains('\n') && !name.starts_with('.'));
            }
        }
    }
}
