//! How much input k8s-apply reads, so that hostile or broken input ends in a clear exit 2 rather
//! than an out-of-memory kill.
//!
//! Two kinds of limit, both far above any real manifest set (the largest charts we know render to
//! a few MiB, and a release record holds at most 1 MB of gzipped JSON anyway):
//!
//! - bytes: [`MAX_SOURCE_BYTES`] per file or standard input, [`MAX_TOTAL_BYTES`] for all of them,
//!   [`MAX_DOCUMENT_BYTES`] for one YAML document.
//!   Reads are cut one byte past the limit, so `/dev/zero` or an endless pipe cannot fill memory.
//! - YAML nodes: [`MAX_NODES`] in all, counted as the parser replays aliases (`*name`). A YAML
//!   alias repeats a whole anchored node, and an alias inside an anchor repeats it again: a few
//!   KiB of nested aliases (a "billion laughs") describe billions of nodes. `serde_yaml_ng` bounds
//!   the number of alias jumps but not the nodes each jump replays, so the nodes are counted here,
//!   with a visitor that allocates nothing, before any value is built.

use std::cell::Cell;
use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};

/// The most bytes one source (a file, standard input) may have: 16 MiB.
pub const MAX_SOURCE_BYTES: u64 = 16 * 1024 * 1024;
/// The most bytes all sources together may have: 32 MiB.
pub const MAX_TOTAL_BYTES: u64 = 32 * 1024 * 1024;
/// The most bytes of one YAML document: 3 MiB, the API server's own limit on a request body, so
/// no object this big could be applied. The parser holds every event of a document before
/// anything is counted (about 64 bytes of memory per byte of a list of one-character items), so
/// this bounds the memory one document can take to some 200 MB.
pub const MAX_DOCUMENT_BYTES: usize = 3 * 1024 * 1024;
/// The most YAML nodes (scalars, sequences, mappings) the whole input may hold once aliases are
/// expanded: 2,000,000, about 20 times the largest rendered chart we know of.
pub const MAX_NODES: u64 = 2_000_000;

/// What is left of the limits while one input set is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    pub bytes_left: u64,
    pub nodes_left: u64,
}

impl Default for Budget {
    fn default() -> Self {
        Self {
            bytes_left: MAX_TOTAL_BYTES,
            nodes_left: MAX_NODES,
        }
    }
}

/// The marker of the counting visitor's own error, to tell it from a syntax error.
const OVER: &str = "k8s-apply node limit reached";

/// Why a YAML document was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooManyNodes {
    /// The document's position within the parsed text, from 0.
    pub position: usize,
    /// The line (1-based, of the text given) the parser was at when the limit was reached: inside
    /// the anchored node being replayed.
    pub line: Option<usize>,
}

/// Counts the nodes of every document of `text` against `budget` (which is spent by what is
/// counted). Stops at the first document that goes past the budget. Syntax errors are left to
/// the real parse that follows, which reports them with their documents.
pub fn count_nodes(text: &str, budget: &mut Budget) -> Result<(), TooManyNodes> {
    for (position, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let left = Cell::new(budget.nodes_left);
        let counted = Count { left: &left }.deserialize(doc);
        budget.nodes_left = left.get();
        if let Err(err) = counted {
            if err.to_string().contains(OVER) {
                return Err(TooManyNodes {
                    position,
                    line: err.location().map(|l| l.line()),
                });
            }
            // A syntax error ends the text for the real parse too.
            return Ok(());
        }
    }
    Ok(())
}

/// The nodes still allowed; visiting a node spends one.
#[derive(Clone, Copy)]
struct Count<'a> {
    left: &'a Cell<u64>,
}

impl Count<'_> {
    fn spend<E: de::Error>(self) -> Result<(), E> {
        match self.left.get().checked_sub(1) {
            Some(left) => {
                self.left.set(left);
                Ok(())
            }
            None => Err(E::custom(OVER)),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Count<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Count<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.spend()
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.spend()
    }

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
        self.spend()
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.spend()
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
        self.spend()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.spend()
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.spend()
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<(), E> {
        self.spend()
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.spend()
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.spend()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.spend()?;
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.spend()?;
        while map.next_key_seed(self)?.is_some() {
            map.next_value_seed(self)?;
        }
        Ok(())
    }

    /// A tagged node (`!tag value`): the tag is not a node of its own, its value is.
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        let (de::IgnoredAny, value) = data.variant()?;
        value.newtype_variant_seed(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(text: &str, nodes: u64) -> (Result<(), TooManyNodes>, u64) {
        let mut budget = Budget {
            bytes_left: MAX_TOTAL_BYTES,
            nodes_left: nodes,
        };
        let result = count_nodes(text, &mut budget);
        (result, nodes - budget.nodes_left)
    }

    #[test]
    fn every_node_is_counted_once_and_aliases_replay_theirs() {
        // The mapping, 2 keys, the list, its 3 items, the alias' 4 replayed nodes.
        let (result, spent) = count("a: &x [1, two, !tag 3]\nb: *x\n", 100);
        assert_eq!(result, Ok(()));
        assert_eq!(spent, 1 + 2 + 4 + 4);
    }

    #[test]
    fn the_budget_is_shared_by_the_documents() {
        let (result, spent) = count("a: 1\n---\nb: 2\n", 100);
        assert_eq!(result, Ok(()));
        assert_eq!(spent, 6);
        let (result, _) = count("a: 1\n---\nb: 2\n", 5);
        assert_eq!(
            result.map_err(|e| e.position),
            Err(1),
            "the second document goes past the budget"
        );
    }

    #[test]
    fn nested_aliases_stop_at_the_limit_with_a_line() {
        let text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n\
                    b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n\
                    c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n\
                    d: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n";
        let (result, spent) = count(text, 5_000);
        let err = result.expect_err("over the limit");
        assert_eq!(err.position, 0);
        assert!(err.line.is_some_and(|l| (1..=4).contains(&l)), "{err:?}");
        assert_eq!(spent, 5_000);
    }

    #[test]
    fn syntax_errors_are_left_to_the_parser() {
        assert_eq!(count("a: [1, 2\n", 100).0, Ok(()));
    }
}
