//! The platform suite: one stack per platform in `shared/seeds/`, built as faithfully as local
//! images allow (compose projects named the way their operators name them, the official
//! Postgres image's conventions, the proxy each platform runs), and driven through an
//! operator's day with the real binary.

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/s3.rs"]
mod s3bed;
#[path = "../common/ssh.rs"]
mod ssh_bed;
#[path = "../common/traefik.rs"]
mod traefik_bed;

mod alpha;
mod elmeg;
mod menuvo;
mod mint;
mod nickapp;
