use super::*;

fn run(text: &str) -> Option<String> {
    let e = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    e.eval(&|name| match name {
        "first_name" => Some("Zoë".into()),
        "last_name" => Some("Ångström".into()),
        "username" => Some("ZAngstrom".into()),
        "department" => Some("R&D".into()),
        "title" => Some(String::new()),
        _ => None,
    })
}

fn refusal(text: &str) -> String {
    parse(text).expect_err(text).to_string()
}

#[test]
fn join_leaves_out_missing_values() {
    assert_eq!(
        run(r#"Join(" ", [first_name], [last_name])"#).as_deref(),
        Some("Zoë Ångström")
    );
    assert_eq!(
        run(r#"Join(".", [first_name], [title], [location])"#).as_deref(),
        Some("Zoë")
    );
}

#[test]
fn coalesce_takes_the_first_value_that_is_not_empty() {
    assert_eq!(
        run(r#"Coalesce([title], [location], [department], "x")"#).as_deref(),
        Some("R&D")
    );
    assert_eq!(run("Coalesce([title], [location])"), None);
}

#[test]
fn case_functions() {
    assert_eq!(run("ToLower([username])").as_deref(), Some("zangstrom"));
    assert_eq!(run("ToUpper([first_name])").as_deref(), Some("ZOË"));
    assert_eq!(run("ToLower([location])"), None);
}

#[test]
fn left_counts_characters_and_tolerates_a_long_count() {
    assert_eq!(run("Left([last_name], 2)").as_deref(), Some("Ån"));
    assert_eq!(run("Left([first_name], 3)").as_deref(), Some("Zoë"));
    assert_eq!(run("Left([first_name], 99)").as_deref(), Some("Zoë"));
    assert_eq!(run("Left([first_name], 0)"), None);
}

#[test]
fn replace_and_append() {
    assert_eq!(
        run(r#"Replace([department], "&", " and ")"#).as_deref(),
        Some("R and D")
    );
    assert_eq!(
        run(r#"Append(ToLower([username]), "@example.com")"#).as_deref(),
        Some("zangstrom@example.com")
    );
    assert_eq!(run(r#"Append([location], "@x")"#), None);
}

#[test]
fn switch_picks_a_value_or_the_default() {
    let s = r#"Switch([department], "Other", "R&D", "Engineering", "HR", "People")"#;
    assert_eq!(run(s).as_deref(), Some("Engineering"));
    let s = r#"Switch([department], "Other", "HR", "People")"#;
    assert_eq!(run(s).as_deref(), Some("Other"));
    let s = r#"Switch([location], "Nowhere", "", "Empty")"#;
    assert_eq!(run(s).as_deref(), Some("Nowhere"));
}

#[test]
fn normalize_diacritics_strips_marks_and_spells_stroked_letters() {
    assert_eq!(
        run("NormalizeDiacritics(Join(\" \", [first_name], [last_name]))").as_deref(),
        Some("Zoe Angstrom")
    );
    assert_eq!(
        normalize_diacritics("Łódź Øresund Straße"),
        "Lodz Oresund Strasse"
    );
    assert_eq!(normalize_diacritics("Nguyễn"), "Nguyen");
}

#[test]
fn strings_escape_quotes_and_round_trip() {
    let e = parse(r#"Join("\"", "a\\b", [email])"#).unwrap();
    assert_eq!(e.eval(&|_| None).as_deref(), Some(r"a\b"));
    assert_eq!(parse(&e.to_string()).unwrap(), e);
    assert_eq!(parse("  [ Email ] ").unwrap(), Expr::Attr("email"));
}

#[test]
fn refusals_name_the_problem_and_where() {
    assert_eq!(
        refusal("Left([first_name])"),
        "Left expects 2 arguments (at character 1)"
    );
    assert!(refusal("Left([first_name], \"3\")").contains("must be a number"));
    assert!(refusal("Lower([email])").contains("unknown function Lower"));
    assert!(refusal("[mail]").contains("unknown attribute [mail]"));
    assert!(refusal("Join(\" \", [email]").contains("expected , or )"));
    assert!(refusal("\"open").contains("not closed"));
    assert!(refusal("[email] [email]").contains("at character 9"));
    assert!(refusal("Switch([email], \"x\", \"k\")").contains("key/value pairs"));
    assert!(refusal("").contains("required"));
    assert!(refusal("ToLower([email]) )").contains("unexpected"));
}

#[test]
fn limits_come_before_parsing() {
    let deep = format!("{}[email]{}", "ToLower(".repeat(17), ")".repeat(17));
    assert!(refusal(&deep).contains("nested deeper than 16"));
    let ok = format!("{}[email]{}", "ToLower(".repeat(16), ")".repeat(16));
    assert!(parse(&ok).is_ok());
    // Parentheses inside strings do not count.
    assert!(parse(&format!("Join(\"{}\", [email])", "(".repeat(40))).is_ok());
    assert!(refusal(&"x".repeat(MAX_LEN + 1)).contains("longer than"));
    assert!(refusal(&"(".repeat(10_000)).contains("longer than"));
}

#[test]
fn constants_do_not_read_attributes() {
    assert!(!parse("\"x\"").unwrap().reads_attributes());
    assert!(parse("ToLower([email])").unwrap().reads_attributes());
}
