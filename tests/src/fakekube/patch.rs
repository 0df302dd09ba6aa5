//! Patch semantics: JSON merge patch (RFC 7386) and the subset of strategic merge patch that
//! matters here.

use serde_json::{Map, Value};

/// Applies a JSON merge patch (RFC 7386) to `target`: objects merge recursively, `null` removes
/// a member, anything else (arrays included) replaces.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_members) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target_members) = target {
        for (key, value) in patch_members {
            if value.is_null() {
                target_members.remove(key);
            } else {
                merge_patch(
                    target_members.entry(key.clone()).or_insert(Value::Null),
                    value,
                );
            }
        }
    }
}

/// Applies a strategic merge patch, approximated: like [`merge_patch`], except that a list of
/// objects that all carry a `name` (containers, env, volumes, …) merges element by element on
/// that key, as Kubernetes does for those lists, instead of being replaced whole. Patch
/// directives (`$patch`, `$retainKeys`, …) are not supported and are dropped.
pub(crate) fn strategic_merge_patch(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target_members), Value::Object(patch_members)) => {
            for (key, value) in patch_members {
                if key.starts_with('$') {
                    continue;
                }
                if value.is_null() {
                    target_members.remove(key);
                } else if let Some(existing) = target_members.get_mut(key) {
                    strategic_merge_patch(existing, value);
                } else {
                    let mut fresh = Value::Null;
                    strategic_merge_patch(&mut fresh, value);
                    target_members.insert(key.clone(), fresh);
                }
            }
        }
        (Value::Array(target_items), Value::Array(patch_items))
            if all_named(target_items) && all_named(patch_items) && !patch_items.is_empty() =>
        {
            for item in patch_items {
                let name = item.get("name").cloned();
                match target_items
                    .iter_mut()
                    .find(|existing| existing.get("name") == name.as_ref())
                {
                    Some(existing) => strategic_merge_patch(existing, item),
                    None => target_items.push(item.clone()),
                }
            }
        }
        (target, patch) => {
            // Replacing: a fresh object still goes through merge semantics so that `null`
            // members of the patch do not end up stored.
            if patch.is_object() {
                *target = Value::Object(Map::new());
                strategic_merge_patch(target, patch);
            } else {
                *target = patch.clone();
            }
        }
    }
}

/// Whether every element is an object with a string `name`.
fn all_named(items: &[Value]) -> bool {
    items
        .iter()
        .all(|item| item.get("name").is_some_and(Value::is_string))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn merge_patch_follows_the_rfc_7386_examples() {
        // The table of RFC 7386 appendix A, row by row.
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (
                json!({"a":"b","b":"c"}),
                json!({"a":null}),
                json!({"b":"c"}),
            ),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a":"b"}), json!(["c"]), json!(["c"])),
            (json!({"a":"foo"}), json!(null), json!(null)),
            (json!({"a":"foo"}), json!("bar"), json!("bar")),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
            (
                json!({}),
                json!({"a":{"bb":{"ccc":null}}}),
                json!({"a":{"bb":{}}}),
            ),
        ];
        for (original, patch, expected) in cases {
            let mut target = original.clone();
            merge_patch(&mut target, &patch);
            assert_eq!(target, expected, "{original} patched with {patch}");
        }
    }

    #[test]
    fn strategic_merge_patch_merges_containers_by_name() {
        let mut target = json!({"containers":[
            {"name":"snmp","image":"snmp:1","args":["-v"]},
            {"name":"sidecar","image":"side:1"}
        ]});
        strategic_merge_patch(
            &mut target,
            &json!({"containers":[{"name":"snmp","image":"snmp:2"}]}),
        );
        assert_eq!(
            target,
            json!({"containers":[
                {"name":"snmp","image":"snmp:2","args":["-v"]},
                {"name":"sidecar","image":"side:1"}
            ]})
        );
    }

    #[test]
    fn strategic_merge_patch_removes_labels_set_to_null() {
        let mut target = json!({"metadata":{"labels":{"a":"1","b":"2"}}});
        strategic_merge_patch(
            &mut target,
            &json!({"metadata":{"labels":{"a":null,"c":"3"}}}),
        );
        assert_eq!(target, json!({"metadata":{"labels":{"b":"2","c":"3"}}}));
    }
}
