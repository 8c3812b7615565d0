//! Definitions that make validation and evaluation work hard, built in code: read by the
//! `bounded_work` tests and by the `foundations` bench.

#![allow(dead_code, reason = "shared by a test and a bench, each of which uses a part")]

use sluice::definition::{Definition, Field, PipelineObject};

/// The fields of the amplifying definition, outermost first: `myA` is a hundred
/// `#{myB}`, `myB` a hundred `#{myC}` ... down to `myK`, which is `x`.
pub const AMPLIFIED_FIELDS: [&str; 11] = [
    "myA", "myB", "myC", "myD", "myE", "myF", "myG", "myH", "myI", "myJ", "myK",
];

/// How many times each field of the amplifying definition refers to the next.
pub const REPEATS: usize = 100;

/// Default, a daily schedule, and the activity "A", whose command echoes `myA`: a few KB
/// whose `myA` would be 100^10 bytes long.
pub fn amplifying() -> Definition {
    let mut fields = vec![
        Field::string("type", "ShellCommandActivity"),
        Field::string("command", "echo #{myA}"),
    ];
    for pair in AMPLIFIED_FIELDS.windows(2) {
        fields.push(Field::string(pair[0], format!("#{{{}}}", pair[1]).repeat(REPEATS)));
    }
    fields.push(Field::string(AMPLIFIED_FIELDS[AMPLIFIED_FIELDS.len() - 1], "x"));
    with_schedule(vec![PipelineObject::new("A", fields)])
}

/// `count` activities, each depending on an id that is its neighbour's mistyped
/// (`Tsak0001` for `Task0001`): every one a reference to an object that does not exist.
pub fn dangling(count: usize) -> Definition {
    let objects = (0..count)
        .map(|index| {
            PipelineObject::new(
                task_id(index),
                vec![
                    Field::string("type", "ShellCommandActivity"),
                    Field::string("command", "echo #{id}"),
                    Field::reference("dependsOn", mistyped_id((index + 1) % count)),
                ],
            )
        })
        .collect();
    with_schedule(objects)
}

pub fn task_id(index: usize) -> String {
    format!("Task{index:04}")
}

pub fn mistyped_id(index: usize) -> String {
    format!("Tsak{index:04}")
}

fn with_schedule(mut objects: Vec<PipelineObject>) -> Definition {
    let mut all = vec![
        PipelineObject::new(
            "Default",
            vec![
                Field::string("scheduleType", "cron"),
                Field::reference("schedule", "Daily"),
                Field::string("workerGroup", "wg"),
            ],
        ),
        PipelineObject::new(
            "Daily",
            vec![
                Field::string("type", "Schedule"),
                Field::string("period", "1 day"),
                Field::string("startDateTime", "2026-01-01T00:00:00"),
            ],
        ),
    ];
    all.append(&mut objects);
    Definition {
        objects: all,
        ..Definition::default()
    }
}
