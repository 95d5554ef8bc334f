//! TESTING.md's table of promises (the README's promises, and the crates' docs') names the tests
//! that check each one: every test it names must exist, in the file it names, so the table
//! cannot drift from the tests.

use std::path::Path;

#[test]
fn every_test_the_readme_names_exists_where_it_says() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let testing = std::fs::read_to_string(root.join("TESTING.md")).expect("TESTING.md");
    let table = testing
        .split("## What the tests check")
        .nth(1)
        .expect("TESTING.md's table of promises");
    let mut named = 0;
    for line in table
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| promise"))
    {
        let checked_by = line.rsplit('|').nth(1).expect("a 'checked by' column");
        let refs: Vec<&str> = checked_by.split('`').skip(1).step_by(2).collect();
        assert!(!refs.is_empty(), "a promise with no test: {line}");
        for r in refs {
            let (file, test) = match r.split_once("::") {
                Some((file, rest)) => (file, rest.rsplit("::").next()),
                None => (r, None),
            };
            let text = std::fs::read_to_string(root.join(file))
                .unwrap_or_else(|e| panic!("{file} (named by TESTING.md): {e}"));
            if let Some(test) = test {
                assert!(
                    text.contains(&format!("fn {test}(")),
                    "TESTING.md names {r}, but {file} has no fn {test}"
                );
            }
            named += 1;
        }
    }
    assert!(named >= 20, "only {named} tests named");
}
