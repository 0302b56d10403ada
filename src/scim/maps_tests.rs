use super::*;
use crate::scim::mapping::{create_body, desired, diff, from_remote};

fn user() -> User {
    User {
        id: 1,
        username: "Alice".into(),
        email: "alice@example.com".into(),
        first_name: "Alice".into(),
        last_name: "Liddell".into(),
        title: String::new(),
        phone: String::new(),
        employee_id: "E1".into(),
        manager: None,
        department: "Wonderland".into(),
        cost_center: "CC-7".into(),
        location: String::new(),
        active: true,
        is_admin: false,
        must_change_password: false,
        created_at: 0,
        updated_at: 0,
    }
}

fn refusal(text: &str) -> String {
    Maps::parse(text).expect_err(text).to_string()
}

#[test]
fn mappings_set_core_typed_and_enterprise_paths() {
    let maps = Maps::parse(
        "displayName = Join(\" \", [first_name], [last_name])\n\
         # a comment\n\
         nickName = ToLower([username]) [create]\n\
         emails[type eq \"home\"].value = \"a@home.example\"\n\
         urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department = [department]\n\
         urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter = [cost_center]\n\
         title = [location]",
    )
    .unwrap();
    let mut m = desired(&user(), &[], None);
    m.insert("title".into(), json!("old"));
    maps.apply(&user(), &mut m);
    assert_eq!(m["displayName"], "Alice Liddell");
    assert_eq!(m["nickName"], "alice");
    assert!(!m.contains_key("title"), "null clears");
    assert_eq!(
        m["emails"][1],
        json!({"value": "a@home.example", "type": "home", "primary": false})
    );
    let body = create_body(&m);
    assert_eq!(body[ENTERPRISE]["department"], "Wonderland");
    assert_eq!(body[ENTERPRISE]["costCenter"], "CC-7");
    assert_eq!(body["schemas"][1], ENTERPRISE);
    assert_eq!(from_remote(&body, &maps.keys()), m, "reads back the same");
    assert_eq!(maps.create_only(), vec!["nickName".to_string()]);
    let ops = diff(&desired(&user(), &[], None), &m);
    assert!(ops
        .iter()
        .any(|o| o["path"] == format!("{ENTERPRISE}:department")));
}

#[test]
fn text_round_trips_through_display() {
    let text = "displayName = Join(\" \", [first_name], [last_name])\n\
                nickName = ToLower([username]) [create]\n\
                urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value = [manager]\n\
                phoneNumbers[type eq \"mobile\"].value = [phone]";
    let maps = Maps::parse(text).unwrap();
    assert_eq!(maps.to_string(), text);
    assert_eq!(Maps::parse(&maps.to_string()).unwrap(), maps);
    assert_eq!(Maps::from_items(&maps.items()).unwrap(), maps);
    assert_eq!(Maps::parse("  \n# nothing\n").unwrap(), Maps::default());
}

#[test]
fn refusals_name_the_line_and_the_field() {
    assert_eq!(
        refusal("displayName = Left([first_name])"),
        "attribute mapping line 1: mapping for \"displayName\": Left expects 2 arguments (at character 1)"
    );
    assert!(
        refusal("\nfavouriteColour = \"red\"").contains("line 2: mapping for \"favouriteColour\"")
    );
    assert!(refusal("userName = \"same for all\"").contains("must differ per user"));
    assert!(refusal("userName = [email] [create]").contains("drop [create]"));
    assert!(refusal("emails[type eq \"pager\"].value = [email]").contains("types: work"));
    assert!(refusal("emails = [email]").contains("write emails[type eq"));
    assert!(refusal("title = [title]\ntitle = [department]").contains("mapped twice"));
    assert!(refusal("title").contains("path = expression"));
    assert!(
        refusal("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:shoeSize = \"9\"")
            .contains("§4.3")
    );
}

#[test]
fn username_override_reads_an_attribute() {
    let maps = Maps::parse("userName = ToLower([email])").unwrap();
    let mut m = desired(&user(), &[], None);
    maps.apply(&user(), &mut m);
    assert_eq!(m["userName"], "alice@example.com");
}
