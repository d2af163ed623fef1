//! The proto only grows. Every earlier descriptor kept in `proto/previous/`
//! must survive in today's: each message keeps each field with its number,
//! type and label, each RPC keeps its request, answer and streaming. A field
//! removed, renumbered or retyped fails here, before any caller breaks.

use std::{collections::BTreeMap, path::Path};

use prost::Message;
use prost_types::{DescriptorProto, FileDescriptorSet, ServiceDescriptorProto};

fn decode(bytes: &[u8]) -> FileDescriptorSet {
    FileDescriptorSet::decode(bytes).expect("a descriptor set")
}

fn messages(set: &FileDescriptorSet) -> BTreeMap<String, &DescriptorProto> {
    set.file
        .iter()
        .flat_map(|file| {
            file.message_type
                .iter()
                .map(move |message| (format!("{}.{}", file.package(), message.name()), message))
        })
        .collect()
}

fn services(set: &FileDescriptorSet) -> BTreeMap<String, &ServiceDescriptorProto> {
    set.file
        .iter()
        .flat_map(|file| {
            file.service
                .iter()
                .map(move |service| (format!("{}.{}", file.package(), service.name()), service))
        })
        .collect()
}

/// What in `current` breaks a caller built against `previous`.
fn breaks(previous: &FileDescriptorSet, current: &FileDescriptorSet) -> Vec<String> {
    let mut breaks = Vec::new();
    let now = messages(current);
    for (name, before) in messages(previous) {
        let Some(after) = now.get(&name) else {
            breaks.push(format!("message {name} was removed"));
            continue;
        };
        for field in &before.field {
            match after.field.iter().find(|f| f.name() == field.name()) {
                None => breaks.push(format!("{name}.{} was removed", field.name())),
                Some(kept) => {
                    if kept.number() != field.number() {
                        breaks.push(format!(
                            "{name}.{} was renumbered {} -> {}",
                            field.name(),
                            field.number(),
                            kept.number()
                        ));
                    }
                    if (kept.r#type(), kept.type_name(), kept.label())
                        != (field.r#type(), field.type_name(), field.label())
                    {
                        breaks.push(format!("{name}.{} was retyped", field.name()));
                    }
                }
            }
        }
    }
    let now = services(current);
    for (name, before) in services(previous) {
        let Some(after) = now.get(&name) else {
            breaks.push(format!("service {name} was removed"));
            continue;
        };
        for method in &before.method {
            let kept = after.method.iter().find(|m| m.name() == method.name());
            let shape = |m: &prost_types::MethodDescriptorProto| {
                (
                    m.input_type().to_owned(),
                    m.output_type().to_owned(),
                    m.client_streaming(),
                    m.server_streaming(),
                )
            };
            match kept {
                None => breaks.push(format!("rpc {name}/{} was removed", method.name())),
                Some(kept) if shape(kept) != shape(method) => {
                    breaks.push(format!("rpc {name}/{} changed shape", method.name()))
                }
                Some(_) => {}
            }
        }
    }
    breaks
}

#[test]
fn todays_proto_keeps_every_field_and_rpc_of_each_earlier_one() {
    let current = decode(bookstream::pb::FILE_DESCRIPTOR_SET);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("proto/previous");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("proto/previous is there") {
        let path = entry.expect("a directory entry").path();
        let previous = decode(&std::fs::read(&path).expect("a readable descriptor"));
        let breaks = breaks(&previous, &current);
        assert!(breaks.is_empty(), "{}: {breaks:#?}", path.display());
        checked += 1;
    }
    assert!(checked > 0, "no earlier descriptor in {}", dir.display());
}

#[test]
fn a_removed_renumbered_or_retyped_field_is_caught() {
    let previous = decode(bookstream::pb::FILE_DESCRIPTOR_SET);
    let edit = |change: &dyn Fn(&mut DescriptorProto)| {
        let mut current = previous.clone();
        let book = current.file[0]
            .message_type
            .iter_mut()
            .find(|message| message.name() == "BookRecommendation")
            .expect("the book message");
        change(book);
        breaks(&previous, &current)
    };
    assert!(edit(&|_| {}).is_empty());
    let removed = edit(&|book| book.field.retain(|field| field.name() != "score"));
    assert_eq!(
        removed,
        ["recommendations.BookRecommendation.score was removed"]
    );
    let renumbered = edit(&|book| book.field[0].number = Some(99));
    assert!(
        renumbered[0].contains("renumbered 1 -> 99"),
        "{renumbered:?}"
    );
    let retyped =
        edit(&|book| book.field[0].set_type(prost_types::field_descriptor_proto::Type::String));
    assert!(retyped[0].contains("retyped"), "{retyped:?}");
}
