//! Cluster managers and namespace members: lists of people keyed by e-mail that the spec, when
//! it sets them, makes match exactly.

/// Makes `current` hold exactly the people of `wanted` (e-mail and what the spec says of them),
/// in the spec's order: someone already there keeps what Mendix reports (status, display
/// name) with `update` applied; someone new is `invite`d; anyone else is removed. E-mails match
/// without regard to case. Returns the list and whether it differs from `current`.
pub fn match_exactly<'a, T: Clone + PartialEq, W: Copy>(
    current: Vec<T>,
    wanted: impl Iterator<Item = (&'a str, W)>,
    email: impl Fn(&T) -> &String,
    update: impl Fn(T, W) -> T,
    invite: impl Fn(&str, W) -> T,
) -> (Vec<T>, bool) {
    let mut next = Vec::new();
    for (address, want) in wanted {
        let found = current
            .iter()
            .find(|t| email(t).eq_ignore_ascii_case(address))
            .cloned();
        next.push(match found {
            Some(person) => update(person, want),
            None => invite(address, want),
        });
    }
    let differs =
        next.len() != current.len() || next.iter().any(|n| !current.iter().any(|c| c == n));
    (next, differs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    struct Person {
        email: String,
        role: String,
        status: Option<String>,
    }

    fn person(email: &str, role: &str, status: Option<&str>) -> Person {
        Person {
            email: email.into(),
            role: role.into(),
            status: status.map(str::to_string),
        }
    }

    fn run(current: Vec<Person>, wanted: &[(&str, &str)]) -> (Vec<Person>, bool) {
        match_exactly(
            current,
            wanted.iter().copied(),
            |p| &p.email,
            |mut p, role: &str| {
                p.role = role.into();
                p
            },
            |email, role| person(email, role, None),
        )
    }

    #[test]
    fn people_are_kept_invited_changed_and_removed_as_the_spec_says() {
        let current = vec![
            person("a@x.io", "Developer", Some("Accepted")),
            person("gone@x.io", "Developer", Some("Accepted")),
        ];
        let (next, differs) = run(
            current.clone(),
            &[("A@x.io", "Administrator"), ("new@x.io", "Developer")],
        );
        assert!(differs);
        assert_eq!(
            next,
            [
                person("a@x.io", "Administrator", Some("Accepted")),
                person("new@x.io", "Developer", None)
            ],
            "what Mendix reports is kept; e-mails match without case"
        );
        let (again, differs) = run(
            current.clone(),
            &[("a@x.io", "Developer"), ("gone@x.io", "Developer")],
        );
        assert!(
            !differs,
            "the same people in the same roles: nothing to send"
        );
        assert_eq!(again, current);
        let (_, differs) = run(
            current,
            &[("gone@x.io", "Developer"), ("a@x.io", "Developer")],
        );
        assert!(!differs, "order alone is no change");
    }
}
