//! The platform suite: one stack per platform in `shared/seeds/`, built as faithfully as local
//! images allow (compose projects named the way their operators name them, the official
//! Postgres image's conventions, the proxy each platform runs), and driven through an
//! operator's day with the real binary.

use opsdeck_testkit::{self as common, s3 as s3bed, ssh as ssh_bed, traefik as traefik_bed};

mod alpha;
mod elmeg;
mod menuvo;
mod mint;
mod nickapp;
