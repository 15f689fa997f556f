//! A generator of Deployment and Pod documents in many YAML styles, for the property tests of
//! every wiring (issue 11): block, flow and JSON; 2/3/4-space and mixed indentation; indented
//! and indentless sequences; comments everywhere; CRLF; quoted keys; empty, `~`, `null`, `{}`
//! and `[]` values; Helm's empty `checksum/config:`; unused anchors, standard tags, merge keys,
//! shared aliases, explicit keys; block scalars (also last in a document without a final
//! newline); `---`/`...` markers, `# Source:` lines, Helm 4's filename annotation; YAML 1.1-only
//! line breaks (NEL, LS) and lone CR line ends.
//!
//! A [`Style`] is a set of knobs; [`named`] lists the presets every test runs, [`arb_style`]
//! draws random combinations (proptest). [`Style::render`] writes the document and records, for
//! every line, which node it belongs to ([`Styled::lines`]) and, for every node, how it is
//! written ([`Styled::nodes`]); [`Edit::allowed_lines`] uses that to say which input lines an
//! edit may replace. The document's *value* is never computed here: the tests take it from the
//! YAML 1.1 readers themselves ([`read_all`]), apply the intended change to that value
//! ([`Edit::apply`]) and compare with what the readers see in the output.
//!
//! A new wiring's test reuses this: render [`named`] and [`arb_style`] documents, run the wiring,
//! batch all inputs and outputs through [`read_all`] once, then check each case with
//! [`check_value`] and [`check_lines`].

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use crate::util::{run, Oracle};

// ---------------------------------------------------------------------------------------------
// Paths and values (test side: independent of the engine's types).

/// One step of a path: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Seg {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// A path from the document root.
pub type Path = Vec<Seg>;

/// `["spec", "template"]` as a [`Path`].
pub fn keys(ks: &[&str]) -> Path {
    ks.iter().map(|k| Seg::Key(k.to_string())).collect()
}

/// `path` plus one key.
pub fn child(path: &Path, key: &str) -> Path {
    let mut p = path.clone();
    p.push(Seg::Key(key.to_string()));
    p
}

/// `path` plus one index.
pub fn item(path: &Path, i: usize) -> Path {
    let mut p = path.clone();
    p.push(Seg::Index(i));
    p
}

/// RFC 6901 JSON pointer of a path (`/spec/template/metadata/annotations/checksum~1config`).
pub fn pointer(path: &Path) -> String {
    path.iter()
        .map(|s| match s {
            Seg::Key(k) => format!("/{}", k.replace('~', "~0").replace('/', "~1")),
            Seg::Index(i) => format!("/{i}"),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Knobs.

/// How the document is written overall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// Block mappings and sequences.
    Block,
    /// Block, with the pod template as one flow mapping on one line.
    FlowTemplate,
    /// The whole document as one flow mapping on one line.
    FlowDoc,
    /// JSON, pretty-printed (`kubectl get -o json`).
    JsonPretty,
    /// JSON on one line.
    JsonCompact,
}

/// How the pod template's metadata is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateMeta {
    /// `labels` only, no annotations.
    Labels,
    /// Existing annotations, one of them `checksum/config: "old"`.
    Annotated,
    /// `annotations:` with nothing after it (null).
    EmptyAnnotations,
    /// Helm's `checksum/config: {{ .Values.unset }}`: annotations with empty values
    /// (`checksum/config:`, `checksum/configmap-c:`).
    HelmEmptyValue,
    /// `annotations: ~`.
    Tilde,
    /// `annotations: null`.
    Null,
    /// `annotations: {}`.
    FlowEmpty,
    /// `metadata: {labels: {app: web}, annotations: }`: an empty value inside a flow mapping.
    FlowWithEmptyValue,
    /// No `metadata` in the template at all.
    NoMetadata,
    /// `metadata:` with nothing after it.
    EmptyMetadata,
    /// Annotations ending in block scalars (`|+`, `|`) and the template's metadata last in the
    /// document, so the document ends inside a block scalar.
    BlockScalarLast,
    /// Annotations with folded and stripped block scalars (`>-`, `|-`) in the middle.
    BlockScalars,
}

/// How the first container is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Containers {
    /// `ports`, `env` and `volumeMounts` as block sequences.
    Full,
    /// Only `name` and `image` (plus `envFrom` when there are no volumes).
    Bare,
    /// `env: []`, `volumeMounts: []`, `args: []`.
    EmptyFlow,
    /// `env: ~`, `volumeMounts: null`.
    Null,
    /// `containers: [{name: web, image: ..., ports: [...]}]`.
    FlowItems,
}

/// How the pod's volumes are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Volumes {
    /// A block sequence.
    Block,
    /// Absent (the container uses the ConfigMap through `envFrom`).
    Absent,
    /// `volumes: []`.
    EmptyFlow,
    /// `volumes: ~`.
    Null,
}

/// Document markers and Helm comment lines around the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Markers {
    /// None.
    None,
    /// `---` first.
    Start,
    /// `---` first and `...` last.
    StartEnd,
    /// `---` then Helm's `# Source: chart/templates/deployment.yaml`.
    Source,
}

/// How mapping keys are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quotes {
    /// Plain.
    Plain,
    /// 'Single'.
    Single,
    /// "Double".
    Double,
}

/// A style: every knob of one generated document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Style {
    /// The preset's name, or `random` plus the knobs.
    pub name: String,
    /// `Pod` or `Deployment`.
    pub pod: bool,
    /// Overall syntax.
    pub syntax: Syntax,
    /// Indentation step per depth (the last one repeats).
    pub steps: Vec<usize>,
    /// `- ` items at the parent key's column (kubectl, Helm) instead of indented.
    pub indentless: bool,
    /// Comments before entries, after values, after `key:` and between items.
    pub comments: bool,
    /// CRLF line ends.
    pub crlf: bool,
    /// How keys are quoted.
    pub quotes: Quotes,
    /// The template's metadata.
    pub meta: TemplateMeta,
    /// The first container.
    pub containers: Containers,
    /// The volumes.
    pub volumes: Volumes,
    /// Markers around the document.
    pub markers: Markers,
    /// Helm 4's filename annotation on the object.
    pub helm4: bool,
    /// No final line break.
    pub no_final_newline: bool,
    /// `template: &t` (no alias uses it).
    pub unused_anchor: bool,
    /// `template: !!map`, `image: !!str ...`.
    pub tags: bool,
    /// `<<: {metadata: {labels: {app: web}}}` in the template (issue 11, defect 4).
    pub merge_template: bool,
    /// `<<: *defaults` in the first container, the defaults anchored on an init container.
    pub merge_container: bool,
    /// `selector.matchLabels: &labels` and the template's `labels: *labels`.
    pub shared_labels: bool,
    /// `? metadata` / `: ...` explicit key layout for the template's metadata.
    pub explicit_key: bool,
    /// A NEL (U+0085) inside a comment: a line break to YAML 1.1 readers only.
    pub nel_comment: bool,
    /// LS (U+2028) inside a comment.
    pub ls_comment: bool,
    /// Lone CR line ends.
    pub lone_cr: bool,
    /// An init container before the containers.
    pub init_container: bool,
}

impl Style {
    /// Block, 2-space, indented sequences, nothing special.
    pub fn base(name: &str) -> Style {
        Style {
            name: name.to_string(),
            pod: false,
            syntax: Syntax::Block,
            steps: vec![2],
            indentless: false,
            comments: false,
            crlf: false,
            quotes: Quotes::Plain,
            meta: TemplateMeta::Labels,
            containers: Containers::Full,
            volumes: Volumes::Block,
            markers: Markers::None,
            helm4: false,
            no_final_newline: false,
            unused_anchor: false,
            tags: false,
            merge_template: false,
            merge_container: false,
            shared_labels: false,
            explicit_key: false,
            nel_comment: false,
            ls_comment: false,
            lone_cr: false,
            init_container: false,
        }
    }

    fn with(mut self, f: impl FnOnce(&mut Style)) -> Style {
        f(&mut self);
        self.normalize();
        self
    }

    /// Turn off knobs that the syntax cannot express.
    pub fn normalize(&mut self) {
        let json = matches!(self.syntax, Syntax::JsonPretty | Syntax::JsonCompact);
        let flow_doc = self.syntax == Syntax::FlowDoc;
        let flow_template = self.syntax == Syntax::FlowTemplate;
        if json || flow_doc {
            self.comments = false;
            self.quotes = if json { Quotes::Double } else { self.quotes };
            self.unused_anchor &= !json;
            self.tags &= !json;
            self.merge_template &= !json;
            self.merge_container &= !json;
            self.shared_labels &= !json;
            self.explicit_key = false;
            self.nel_comment = false;
            self.ls_comment = false;
            self.lone_cr = false;
        }
        if json || flow_doc || flow_template {
            if matches!(self.meta, TemplateMeta::BlockScalarLast | TemplateMeta::BlockScalars) {
                self.meta = TemplateMeta::Annotated;
            }
            if json && matches!(self.meta, TemplateMeta::EmptyAnnotations | TemplateMeta::HelmEmptyValue) {
                self.meta = TemplateMeta::Null;
            }
            if json && matches!(self.meta, TemplateMeta::EmptyMetadata | TemplateMeta::FlowWithEmptyValue) {
                self.meta = TemplateMeta::FlowEmpty;
            }
        }
        if flow_template || flow_doc || json {
            self.explicit_key = false;
        }
        if self.meta == TemplateMeta::BlockScalarLast {
            // The document ends inside the block scalar: nothing may follow it.
            self.markers = if self.markers == Markers::StartEnd { Markers::Start } else { self.markers };
            self.comments = false;
        }
        if self.pod {
            // A Pod's template is the object itself: its metadata holds the name.
            self.merge_template = false;
            self.shared_labels = false;
            self.unused_anchor = false;
            if matches!(self.meta, TemplateMeta::NoMetadata | TemplateMeta::EmptyMetadata) {
                self.meta = TemplateMeta::Labels;
            }
        }
        if self.lone_cr {
            self.crlf = false;
        }
        if (self.merge_template || self.shared_labels)
            && matches!(self.meta, TemplateMeta::NoMetadata | TemplateMeta::EmptyMetadata)
        {
            self.meta = TemplateMeta::Labels;
        }
        if self.explicit_key && matches!(self.meta, TemplateMeta::NoMetadata | TemplateMeta::FlowWithEmptyValue) {
            self.meta = TemplateMeta::Labels;
        }
    }

    /// The knobs that differ from [`Style::base`], for case names: `json-pretty crlf meta=Tilde`.
    pub fn knobs(&self) -> String {
        let base = Style::base("");
        let mut out = Vec::new();
        let mut diff = |on: bool, text: String| {
            if on {
                out.push(text)
            }
        };
        diff(self.pod, "pod".into());
        diff(self.syntax != base.syntax, format!("{:?}", self.syntax));
        diff(self.steps != base.steps, format!("steps={:?}", self.steps));
        diff(self.indentless, "indentless".into());
        diff(self.comments, "comments".into());
        diff(self.crlf, "crlf".into());
        diff(self.quotes != base.quotes, format!("keys={:?}", self.quotes));
        diff(self.meta != base.meta, format!("meta={:?}", self.meta));
        diff(self.containers != base.containers, format!("containers={:?}", self.containers));
        diff(self.volumes != base.volumes, format!("volumes={:?}", self.volumes));
        diff(self.markers != base.markers, format!("markers={:?}", self.markers));
        for (on, name) in [
            (self.helm4, "helm4"),
            (self.no_final_newline, "no-final-newline"),
            (self.unused_anchor, "unused-anchor"),
            (self.tags, "tags"),
            (self.merge_template, "merge-template"),
            (self.merge_container, "merge-container"),
            (self.shared_labels, "shared-labels"),
            (self.explicit_key, "explicit-key"),
            (self.nel_comment, "nel"),
            (self.ls_comment, "ls"),
            (self.lone_cr, "lone-cr"),
            (self.init_container, "init-container"),
        ] {
            diff(on, name.into());
        }
        out.join(" ")
    }

    /// Where the pod template is.
    pub fn template(&self) -> Path {
        if self.pod {
            Vec::new()
        } else {
            keys(&["spec", "template"])
        }
    }

    /// Why every edit of this document must be refused, if it must.
    pub fn refuse_all(&self) -> Option<&'static str> {
        if self.nel_comment {
            Some("NEL outside quoted scalars")
        } else if self.ls_comment {
            Some("LS outside quoted scalars")
        } else if self.lone_cr {
            Some("lone CR line ends")
        } else {
            None
        }
    }
}

/// The presets every wiring's property test runs (at least one per style the issue lists).
pub fn named() -> Vec<Style> {
    use TemplateMeta as M;
    let b = Style::base;
    vec![
        b("block-2"),
        b("block-2-indentless").with(|s| s.indentless = true),
        b("block-3").with(|s| s.steps = vec![3]),
        b("block-4").with(|s| s.steps = vec![4]),
        b("block-4-indentless").with(|s| {
            s.steps = vec![4];
            s.indentless = true
        }),
        b("mixed-indent").with(|s| s.steps = vec![2, 4, 3, 2, 4]),
        b("mixed-indent-indentless").with(|s| {
            s.steps = vec![4, 2, 3];
            s.indentless = true
        }),
        b("flow-template").with(|s| s.syntax = Syntax::FlowTemplate),
        b("flow-document").with(|s| s.syntax = Syntax::FlowDoc),
        b("json-pretty").with(|s| s.syntax = Syntax::JsonPretty),
        b("json-compact").with(|s| s.syntax = Syntax::JsonCompact),
        b("json-crlf").with(|s| {
            s.syntax = Syntax::JsonPretty;
            s.crlf = true;
            s.meta = M::Annotated
        }),
        b("comments-everywhere").with(|s| {
            s.comments = true;
            s.meta = M::Annotated
        }),
        b("comments-indentless-empty-value").with(|s| {
            s.comments = true;
            s.indentless = true;
            s.meta = M::HelmEmptyValue
        }),
        b("crlf").with(|s| {
            s.crlf = true;
            s.meta = M::Annotated
        }),
        b("crlf-comments-empty").with(|s| {
            s.crlf = true;
            s.comments = true;
            s.meta = M::EmptyAnnotations
        }),
        b("double-quoted-keys").with(|s| s.quotes = Quotes::Double),
        b("single-quoted-keys").with(|s| {
            s.quotes = Quotes::Single;
            s.meta = M::Annotated
        }),
        b("annotations-empty").with(|s| s.meta = M::EmptyAnnotations),
        b("helm-checksum-empty-value").with(|s| s.meta = M::HelmEmptyValue),
        b("annotations-tilde").with(|s| s.meta = M::Tilde),
        b("annotations-null").with(|s| s.meta = M::Null),
        b("annotations-flow-empty").with(|s| s.meta = M::FlowEmpty),
        b("metadata-flow-empty-value").with(|s| s.meta = M::FlowWithEmptyValue),
        b("pod-flow-empty-value").with(|s| {
            s.pod = true;
            s.meta = M::FlowWithEmptyValue
        }),
        b("no-template-metadata").with(|s| s.meta = M::NoMetadata),
        b("template-metadata-empty").with(|s| s.meta = M::EmptyMetadata),
        b("block-scalar-at-eof-no-newline").with(|s| {
            s.meta = M::BlockScalarLast;
            s.no_final_newline = true
        }),
        b("block-scalar-at-eof").with(|s| s.meta = M::BlockScalarLast),
        b("block-scalars-folded-strip").with(|s| s.meta = M::BlockScalars),
        b("containers-bare-no-volumes").with(|s| {
            s.containers = Containers::Bare;
            s.volumes = Volumes::Absent
        }),
        b("env-mounts-volumes-flow-empty").with(|s| {
            s.containers = Containers::EmptyFlow;
            s.volumes = Volumes::EmptyFlow
        }),
        b("env-mounts-volumes-null").with(|s| {
            s.containers = Containers::Null;
            s.volumes = Volumes::Null
        }),
        b("containers-flow-items").with(|s| s.containers = Containers::FlowItems),
        b("init-containers").with(|s| s.init_container = true),
        b("unused-anchor").with(|s| s.unused_anchor = true),
        b("standard-tags").with(|s| {
            s.tags = true;
            s.meta = M::Annotated
        }),
        b("merge-key-template").with(|s| s.merge_template = true),
        b("merge-key-container").with(|s| {
            s.merge_container = true;
            s.init_container = true
        }),
        b("alias-shared-labels").with(|s| s.shared_labels = true),
        b("explicit-key").with(|s| s.explicit_key = true),
        b("markers-start-end").with(|s| s.markers = Markers::StartEnd),
        b("helm-source-comment").with(|s| {
            s.markers = Markers::Source;
            s.indentless = true
        }),
        b("helm4-filename-annotation").with(|s| {
            s.helm4 = true;
            s.markers = Markers::Source;
            s.indentless = true;
            s.meta = M::Annotated
        }),
        b("no-final-newline").with(|s| s.no_final_newline = true),
        b("pod-block").with(|s| s.pod = true),
        b("pod-json").with(|s| {
            s.pod = true;
            s.syntax = Syntax::JsonPretty
        }),
        b("pod-comments-crlf").with(|s| {
            s.pod = true;
            s.comments = true;
            s.crlf = true;
            s.meta = M::Tilde
        }),
        b("nel-in-comment").with(|s| s.nel_comment = true),
        b("ls-in-comment").with(|s| s.ls_comment = true),
        b("lone-cr").with(|s| s.lone_cr = true),
    ]
}

/// Random styles: every knob drawn independently, then [`Style::normalize`]d.
pub fn arb_style() -> impl Strategy<Value = Style> {
    use TemplateMeta as M;
    let syntax = prop_oneof![
        6 => Just(Syntax::Block),
        1 => Just(Syntax::FlowTemplate),
        1 => Just(Syntax::FlowDoc),
        1 => Just(Syntax::JsonPretty),
        1 => Just(Syntax::JsonCompact),
    ];
    let steps = prop::collection::vec(2usize..=4, 1..4);
    let meta = prop::sample::select(vec![
        M::Labels,
        M::Annotated,
        M::EmptyAnnotations,
        M::HelmEmptyValue,
        M::Tilde,
        M::Null,
        M::FlowEmpty,
        M::FlowWithEmptyValue,
        M::NoMetadata,
        M::EmptyMetadata,
        M::BlockScalarLast,
        M::BlockScalars,
    ]);
    let containers = prop::sample::select(vec![
        Containers::Full,
        Containers::Bare,
        Containers::EmptyFlow,
        Containers::Null,
        Containers::FlowItems,
    ]);
    let volumes = prop::sample::select(vec![Volumes::Block, Volumes::Absent, Volumes::EmptyFlow, Volumes::Null]);
    let markers = prop::sample::select(vec![Markers::None, Markers::Start, Markers::StartEnd, Markers::Source]);
    let quotes = prop::sample::select(vec![Quotes::Plain, Quotes::Single, Quotes::Double]);
    // Rare knobs: each on in about one case of eight.
    let rare = prop::collection::vec(prop::bool::weighted(0.12), 10);
    let common = prop::collection::vec(any::<bool>(), 6);
    (syntax, steps, meta, containers, volumes, markers, quotes, rare, common).prop_map(
        |(syntax, steps, meta, containers, volumes, markers, quotes, rare, common)| {
            let mut s = Style {
                name: String::new(),
                pod: common[0] && common[1],
                syntax,
                steps,
                indentless: common[2],
                comments: common[3],
                crlf: common[4] && !common[5],
                quotes,
                meta,
                containers,
                volumes,
                markers,
                helm4: rare[0],
                no_final_newline: rare[1],
                unused_anchor: rare[2],
                tags: rare[3],
                merge_template: rare[4],
                merge_container: rare[5],
                shared_labels: rare[6],
                explicit_key: rare[7],
                nel_comment: rare[8] && rare[9],
                ls_comment: false,
                lone_cr: rare[9] && !rare[8] && common[5],
                init_container: common[5],
            };
            if s.merge_container {
                s.init_container = true;
            }
            s.normalize();
            s.name = format!("random: {}", s.knobs());
            s
        },
    )
}

/// `n` random styles drawn from [`arb_style`] with a fixed seed (the same every run), for tests
/// that batch their cases through the YAML readers instead of checking one case at a time.
pub fn sampled(n: usize) -> Vec<Style> {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[11u8; 32]);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let strategy = arb_style();
    (0..n)
        .map(|i| {
            let mut s = strategy.new_tree(&mut runner).expect("style").current();
            s.name = format!("random #{i}: {}", s.knobs());
            s
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The document model.

#[derive(Debug, Clone)]
enum Kind {
    /// A scalar as written (`web`, `"80"`, `~`).
    Scalar(String),
    /// An empty value (`key:` with nothing after it).
    Empty,
    Map(Vec<Entry>),
    Seq(Vec<Node>),
    Alias(String),
    /// A block scalar: header (`|`, `>-`, `|+`) and content lines (without indentation).
    Block(String, Vec<String>),
}

#[derive(Debug, Clone)]
struct Node {
    kind: Kind,
    anchor: Option<String>,
    tag: Option<String>,
    /// Written as a flow collection.
    flow: bool,
    /// A comment at the end of the node's first line.
    comment: Option<String>,
}

#[derive(Debug, Clone)]
struct Entry {
    key: String,
    /// `? key` / `: value` layout.
    explicit: bool,
    /// Comment lines before the entry.
    before: Vec<String>,
    value: Node,
}

fn node(kind: Kind) -> Node {
    Node { kind, anchor: None, tag: None, flow: false, comment: None }
}

/// A plain string scalar that is the same string to every reader.
fn s(v: &str) -> Node {
    node(Kind::Scalar(v.to_string()))
}

/// A double-quoted string scalar.
fn q(v: &str) -> Node {
    node(Kind::Scalar(serde_json::to_string(v).unwrap()))
}

fn empty() -> Node {
    node(Kind::Empty)
}

fn map(entries: Vec<(&str, Node)>) -> Node {
    node(Kind::Map(
        entries
            .into_iter()
            .map(|(k, v)| Entry { key: k.to_string(), explicit: false, before: vec![], value: v })
            .collect(),
    ))
}

fn seq(items: Vec<Node>) -> Node {
    node(Kind::Seq(items))
}

fn flow(mut n: Node) -> Node {
    n.flow = true;
    n
}

fn block(header: &str, lines: &[&str]) -> Node {
    node(Kind::Block(header.to_string(), lines.iter().map(|l| l.to_string()).collect()))
}

impl Node {
    fn entries_mut(&mut self) -> &mut Vec<Entry> {
        match &mut self.kind {
            Kind::Map(e) => e,
            other => panic!("not a mapping: {other:?}"),
        }
    }

    fn get_mut(&mut self, key: &str) -> &mut Node {
        &mut self.entries_mut().iter_mut().find(|e| e.key == key).unwrap_or_else(|| panic!("no {key}")).value
    }

    fn push(&mut self, key: &str, value: Node) {
        self.entries_mut().push(Entry { key: key.to_string(), explicit: false, before: vec![], value });
    }

    fn remove(&mut self, key: &str) {
        self.entries_mut().retain(|e| e.key != key);
    }
}

/// The document of a style, as a model.
fn build(st: &Style) -> Node {
    use TemplateMeta as M;
    let labels = || map(vec![("app", s("web"))]);
    let mut meta = match st.meta {
        M::Labels => map(vec![("labels", labels())]),
        M::Annotated => map(vec![
            ("labels", labels()),
            ("annotations", map(vec![("checksum/config", q("old")), ("example.com/owner", s("team-a"))])),
        ]),
        M::EmptyAnnotations => map(vec![("labels", labels()), ("annotations", empty())]),
        M::HelmEmptyValue => map(vec![
            ("labels", labels()),
            ("annotations", map(vec![("checksum/config", empty()), ("checksum/configmap-c", empty())])),
        ]),
        M::Tilde => map(vec![("labels", labels()), ("annotations", s("~"))]),
        M::Null => map(vec![("labels", labels()), ("annotations", s("null"))]),
        M::FlowEmpty => map(vec![("labels", labels()), ("annotations", flow(map(vec![])))]),
        M::FlowWithEmptyValue => flow(map(vec![("labels", flow(labels())), ("annotations", empty())])),
        M::NoMetadata | M::EmptyMetadata => map(vec![]),
        M::BlockScalarLast => map(vec![
            ("labels", labels()),
            (
                "annotations",
                map(vec![
                    ("example.com/notes", block("|+", &["kept", ""])),
                    ("checksum/configmap-c", block("|", &["old"])),
                ]),
            ),
        ]),
        M::BlockScalars => map(vec![
            ("labels", labels()),
            (
                "annotations",
                map(vec![
                    ("example.com/folded", block(">-", &["one", "two", "", "three"])),
                    ("example.com/literal", block("|-", &["a: b", "  c # not a comment"])),
                    ("checksum/config", q("old")),
                ]),
            ),
        ]),
    };
    if st.pod {
        let mut m = vec![Entry { key: "name".into(), explicit: false, before: vec![], value: s("web") }];
        m.extend(std::mem::take(meta.entries_mut()));
        *meta.entries_mut() = m;
    }
    if st.shared_labels {
        let mut alias = node(Kind::Alias("labels".into()));
        alias.flow = false;
        *meta.get_mut("labels") = alias;
    }
    if st.helm4 && st.pod {
        add_filename_annotation(&mut meta);
    }

    let mut container = map(vec![("name", s("web")), ("image", s("nginx:1.25"))]);
    if st.tags {
        let image = container.get_mut("image");
        image.tag = Some("!!str".into());
    }
    let mount = map(vec![("name", s("config")), ("mountPath", s("/etc/web"))]);
    let env = seq(vec![map(vec![("name", s("LOG")), ("value", q("info"))])]);
    let uses_volume = st.volumes == Volumes::Block;
    match st.containers {
        Containers::Full => {
            container.push("ports", seq(vec![map(vec![("containerPort", s("80"))])]));
            container.push("env", env);
            if uses_volume {
                container.push("volumeMounts", seq(vec![mount]));
            }
        }
        Containers::Bare => {}
        Containers::EmptyFlow => {
            container.push("args", flow(seq(vec![])));
            container.push("env", flow(seq(vec![])));
            container.push("volumeMounts", flow(seq(vec![])));
        }
        Containers::Null => {
            container.push("env", s("~"));
            container.push("volumeMounts", s("null"));
        }
        Containers::FlowItems => {
            container.push("ports", flow(seq(vec![flow(map(vec![("containerPort", s("80"))]))])));
            container = flow(container);
        }
    }
    if !uses_volume {
        let env_from = seq(vec![map(vec![("configMapRef", map(vec![("name", s("c"))]))])]);
        if container.flow {
            container
                .push("envFrom", flow(seq(vec![flow(map(vec![("configMapRef", flow(map(vec![("name", s("c"))])))]))])));
        } else {
            container.push("envFrom", env_from);
        }
    }
    if st.merge_container {
        let entries = container.entries_mut();
        entries.insert(
            1,
            Entry { key: "<<".into(), explicit: false, before: vec![], value: node(Kind::Alias("defaults".into())) },
        );
    }
    let mut pod_spec = map(vec![]);
    if st.init_container {
        let mut defaults = map(vec![("imagePullPolicy", s("IfNotPresent"))]);
        if st.merge_container {
            defaults.anchor = Some("defaults".into());
        }
        let init = map(vec![
            ("name", s("init")),
            ("image", s("busybox:1.36")),
            ("command", flow(seq(vec![s("sh"), s("-c"), q("true")]))),
            ("securityContext", defaults),
        ]);
        pod_spec.push("initContainers", seq(vec![init]));
    }
    pod_spec.push("containers", seq(vec![container]));
    match st.volumes {
        Volumes::Block => pod_spec
            .push("volumes", seq(vec![map(vec![("name", s("config")), ("configMap", map(vec![("name", s("c"))]))])])),
        Volumes::Absent => {}
        Volumes::EmptyFlow => pod_spec.push("volumes", flow(seq(vec![]))),
        Volumes::Null => pod_spec.push("volumes", s("~")),
    }

    let no_meta = st.meta == M::NoMetadata;
    let empty_meta = st.meta == M::EmptyMetadata;
    let meta_node = if empty_meta { empty() } else { meta };
    let mut template = map(vec![]);
    let meta_last = st.meta == M::BlockScalarLast;
    if st.merge_template {
        template.push("<<", flow(map(vec![("metadata", flow(map(vec![("labels", flow(labels()))])))])));
    }
    if !no_meta && !meta_last {
        template.push("metadata", meta_node.clone());
    }
    template.push("spec", pod_spec);
    if meta_last {
        template.push("metadata", meta_node.clone());
    }
    if st.explicit_key {
        for e in template.entries_mut() {
            if e.key == "metadata" {
                e.explicit = true;
            }
        }
    }
    if st.unused_anchor {
        template.anchor = Some("t".into());
    }
    if st.tags {
        template.tag = Some("!!map".into());
    }
    if st.syntax == Syntax::FlowTemplate {
        template = deep_flow(template);
    }

    let root = if st.pod {
        let mut root = map(vec![("apiVersion", s("v1")), ("kind", s("Pod"))]);
        for e in std::mem::take(template.entries_mut()) {
            root.entries_mut().push(e);
        }
        root
    } else {
        let mut obj_meta = map(vec![("name", s("web")), ("labels", labels())]);
        if st.helm4 {
            add_filename_annotation(&mut obj_meta);
        }
        let mut match_labels = labels();
        if st.shared_labels {
            match_labels.anchor = Some("labels".into());
        }
        let spec = map(vec![
            ("replicas", s("2")),
            ("selector", map(vec![("matchLabels", match_labels)])),
            ("template", template),
        ]);
        map(vec![("apiVersion", s("apps/v1")), ("kind", s("Deployment")), ("metadata", obj_meta), ("spec", spec)])
    };
    let mut root = if st.syntax == Syntax::FlowDoc { deep_flow(root) } else { root };
    if st.comments {
        add_comments(&mut root, 0);
    }
    if st.nel_comment || st.ls_comment {
        let brk = if st.nel_comment { '\u{85}' } else { '\u{2028}' };
        // To the 1.2 parser this is one comment line; to YAML 1.1 readers it ends in a real key.
        root.entries_mut()[0].before.push(format!("# generated{brk}x-note: hidden"));
    }
    root
}

fn add_filename_annotation(meta: &mut Node) {
    let ann = map(vec![("postrenderer.helm.sh/postrender-filename", s("chart/templates/deployment.yaml"))]);
    match meta.entries_mut().iter_mut().find(|e| e.key == "annotations") {
        Some(e) if matches!(e.value.kind, Kind::Map(_)) => {
            e.value.push("postrenderer.helm.sh/postrender-filename", s("chart/templates/deployment.yaml"))
        }
        Some(e) => e.value = ann,
        None => meta.push("annotations", ann),
    }
}

fn deep_flow(mut n: Node) -> Node {
    match &mut n.kind {
        Kind::Map(entries) => {
            for e in entries.iter_mut() {
                e.value = deep_flow(e.value.clone());
            }
        }
        Kind::Seq(items) => {
            for i in items.iter_mut() {
                *i = deep_flow(i.clone());
            }
        }
        _ => {}
    }
    if matches!(n.kind, Kind::Map(_) | Kind::Seq(_)) {
        n.flow = true;
    }
    n
}

fn add_comments(n: &mut Node, depth: usize) {
    if n.flow {
        return;
    }
    match &mut n.kind {
        Kind::Map(entries) => {
            for (i, e) in entries.iter_mut().enumerate() {
                if i % 2 == 0 || depth < 2 {
                    e.before.push(format!("# {} (depth {depth})", e.key));
                }
                match &e.value.kind {
                    Kind::Scalar(_) | Kind::Empty | Kind::Alias(_) => {
                        e.value.comment = Some(format!("# {} value", e.key))
                    }
                    Kind::Map(m) if !e.value.flow && !m.is_empty() => e.value.comment = Some("# after key".into()),
                    Kind::Seq(s) if !e.value.flow && !s.is_empty() => e.value.comment = Some("# items".into()),
                    _ => {}
                }
                add_comments(&mut e.value, depth + 1);
            }
        }
        Kind::Seq(items) => {
            for i in items.iter_mut() {
                add_comments(i, depth + 1);
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering.

/// One line of a generated document.
#[derive(Debug, Clone)]
pub struct Line {
    /// The text, without its line break.
    pub text: String,
    /// The node the line belongs to (None: markers and document comments).
    pub owner: Option<Path>,
    /// The line holds the owner's whole value (a scalar, an empty value, a one-line flow
    /// collection), so filling or replacing that value may rewrite the line.
    pub compact: bool,
}

/// How one node is written.
#[derive(Debug, Clone, Default)]
pub struct NodeInfo {
    /// Inside a flow collection (or JSON).
    pub flow: bool,
    /// An empty, `~` or `null` value, or an empty flow collection.
    pub empty: bool,
    /// An alias (`*a`).
    pub alias: bool,
    /// Anchored, and an alias elsewhere uses the anchor.
    pub shared: bool,
    /// A mapping with a `<<` merge key.
    pub merge: bool,
    /// Written as `? key` / `: value`.
    pub explicit: bool,
}

/// A rendered style.
#[derive(Debug, Clone)]
pub struct Styled {
    /// The style.
    pub style: Style,
    /// The document text.
    pub text: String,
    /// Every line, with its owner.
    pub lines: Vec<Line>,
    /// Every node of the document by path.
    pub nodes: BTreeMap<Path, NodeInfo>,
    /// Where the pod template is.
    pub template: Path,
}

struct Writer<'a> {
    st: &'a Style,
    lines: Vec<Line>,
    nodes: BTreeMap<Path, NodeInfo>,
    aliased: BTreeSet<String>,
}

impl Style {
    /// Write the document.
    pub fn render(&self) -> Styled {
        let root = build(self);
        let mut aliased = BTreeSet::new();
        collect_aliases(&root, &mut aliased);
        let mut w = Writer { st: self, lines: Vec::new(), nodes: BTreeMap::new(), aliased };
        let doc_line = |t: &str| Line { text: t.to_string(), owner: None, compact: false };
        match self.markers {
            Markers::None => {}
            Markers::Start | Markers::StartEnd => w.lines.push(doc_line("---")),
            Markers::Source => {
                w.lines.push(doc_line("---"));
                w.lines.push(doc_line("# Source: chart/templates/deployment.yaml"));
            }
        }
        if self.comments {
            w.lines.push(doc_line("# a generated document"));
        }
        match self.syntax {
            Syntax::JsonPretty => w.json_pretty(&root, &Vec::new(), 0, "", ""),
            Syntax::JsonCompact => {
                let text = w.json_compact(&root, &Vec::new());
                w.lines.push(Line { text, owner: Some(Vec::new()), compact: true });
            }
            Syntax::FlowDoc => {
                w.info(&root, &Vec::new(), true);
                let text = w.flow_text(&root, &Vec::new());
                w.lines.push(Line { text, owner: Some(Vec::new()), compact: true });
            }
            Syntax::Block | Syntax::FlowTemplate => {
                w.info(&root, &Vec::new(), false);
                w.block_map(&root, &Vec::new(), 0, 0)
            }
        }
        if self.comments {
            w.lines.push(doc_line("# end of document"));
        }
        if self.markers == Markers::StartEnd {
            w.lines.push(doc_line("..."));
        }
        let nl = if self.crlf {
            "\r\n"
        } else if self.lone_cr {
            "\r"
        } else {
            "\n"
        };
        let mut text = w.lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>().join(nl);
        if !self.no_final_newline {
            text.push_str(nl);
        }
        Styled { style: self.clone(), text, lines: w.lines, nodes: w.nodes, template: self.template() }
    }
}

fn collect_aliases(n: &Node, out: &mut BTreeSet<String>) {
    match &n.kind {
        Kind::Alias(a) => {
            out.insert(a.clone());
        }
        Kind::Map(entries) => entries.iter().for_each(|e| collect_aliases(&e.value, out)),
        Kind::Seq(items) => items.iter().for_each(|i| collect_aliases(i, out)),
        _ => {}
    }
}

impl Writer<'_> {
    fn step(&self, depth: usize) -> usize {
        self.st.steps[depth.min(self.st.steps.len() - 1)]
    }

    fn key(&self, k: &str) -> String {
        if k == "<<" {
            return k.to_string();
        }
        match self.st.quotes {
            Quotes::Plain => k.to_string(),
            Quotes::Single => format!("'{k}'"),
            Quotes::Double => format!("\"{k}\""),
        }
    }

    /// Record node infos for `n` and below.
    fn info(&mut self, n: &Node, path: &Path, in_flow: bool) {
        let flow = in_flow || n.flow;
        let empty = match &n.kind {
            Kind::Empty => true,
            Kind::Scalar(t) => t == "~" || t == "null",
            Kind::Map(e) => e.is_empty(),
            Kind::Seq(i) => i.is_empty(),
            _ => false,
        };
        let info = NodeInfo {
            flow,
            empty,
            alias: matches!(n.kind, Kind::Alias(_)),
            shared: n.anchor.as_ref().is_some_and(|a| self.aliased.contains(a)),
            merge: matches!(&n.kind, Kind::Map(e) if e.iter().any(|e| e.key == "<<")),
            explicit: false,
        };
        self.nodes.insert(path.clone(), info);
        match &n.kind {
            Kind::Map(entries) => {
                for e in entries {
                    let p = child(path, &e.key);
                    self.info(&e.value, &p, flow);
                    if e.explicit {
                        self.nodes.get_mut(&p).unwrap().explicit = true;
                    }
                }
            }
            Kind::Seq(items) => {
                for (i, it) in items.iter().enumerate() {
                    self.info(it, &item(path, i), flow);
                }
            }
            _ => {}
        }
    }

    fn props(n: &Node) -> String {
        let mut p = String::new();
        if let Some(a) = &n.anchor {
            p.push_str(&format!(" &{a}"));
        }
        if let Some(t) = &n.tag {
            p.push_str(&format!(" {t}"));
        }
        p
    }

    fn comment(&self, n: &Node) -> String {
        n.comment.as_ref().map(|c| format!(" {c}")).unwrap_or_default()
    }

    fn push(&mut self, text: String, owner: &Path, compact: bool) {
        self.lines.push(Line { text, owner: Some(owner.clone()), compact });
    }

    /// Inline text of a scalar, alias or flow collection.
    fn flow_text(&mut self, n: &Node, path: &Path) -> String {
        let props = Self::props(n);
        let props = props.trim_start();
        let pre = if props.is_empty() { String::new() } else { format!("{props} ") };
        match &n.kind {
            Kind::Scalar(t) => format!("{pre}{t}"),
            Kind::Empty => pre.trim_end().to_string(),
            Kind::Alias(a) => format!("*{a}"),
            Kind::Block(..) => panic!("block scalar in flow at {path:?}"),
            Kind::Map(entries) => {
                let members: Vec<String> = entries
                    .iter()
                    .map(|e| {
                        let v = self.flow_text(&e.value, &child(path, &e.key));
                        let k = self.key(&e.key);
                        if v.is_empty() {
                            format!("{k}: ")
                        } else {
                            format!("{k}: {v}")
                        }
                    })
                    .collect();
                format!("{pre}{{{}}}", members.join(", "))
            }
            Kind::Seq(items) => {
                let members: Vec<String> =
                    items.iter().enumerate().map(|(i, it)| self.flow_text(it, &item(path, i))).collect();
                format!("{pre}[{}]", members.join(", "))
            }
        }
    }

    fn block_map(&mut self, n: &Node, path: &Path, col: usize, depth: usize) {
        let Kind::Map(entries) = &n.kind else { panic!("block_map of {:?}", n.kind) };
        let pad = " ".repeat(col);
        for e in entries {
            let p = child(path, &e.key);
            for c in &e.before {
                self.push(format!("{pad}{c}"), &p, false);
            }
            let k = self.key(&e.key);
            let (lead, kpad) = if e.explicit {
                self.push(format!("{pad}? {k}"), &p, false);
                (format!("{pad}:"), col)
            } else {
                (format!("{pad}{k}:"), col)
            };
            self.value(&e.value, &p, &lead, kpad, depth);
        }
    }

    /// Write `value` after `lead` (`  key:` or `  -`), the key at column `col`.
    fn value(&mut self, v: &Node, p: &Path, lead: &str, col: usize, depth: usize) {
        let props = Self::props(v);
        let comment = self.comment(v);
        let step = self.step(depth);
        match &v.kind {
            Kind::Scalar(_) | Kind::Alias(_) | Kind::Empty => {
                let t = self.flow_text(v, p);
                let sep = if t.is_empty() { "" } else { " " };
                self.push(format!("{lead}{sep}{t}{comment}"), p, true);
            }
            Kind::Block(header, lines) => {
                self.push(format!("{lead}{props} {header}"), p, false);
                let inner = " ".repeat(col + step);
                for l in lines {
                    let text = if l.is_empty() { String::new() } else { format!("{inner}{l}") };
                    self.push(text, p, false);
                }
            }
            Kind::Map(e) if v.flow || e.is_empty() => {
                let t = self.flow_text(v, p);
                self.push(format!("{lead} {t}{comment}"), p, true);
            }
            Kind::Seq(i) if v.flow || i.is_empty() => {
                let t = self.flow_text(v, p);
                self.push(format!("{lead} {t}{comment}"), p, true);
            }
            Kind::Map(_) => {
                self.push(format!("{lead}{props}{comment}"), p, false);
                self.block_map(v, p, col + step, depth + 1);
            }
            Kind::Seq(items) => {
                self.push(format!("{lead}{props}{comment}"), p, false);
                let item_col = if self.st.indentless { col } else { col + step };
                let pad = " ".repeat(item_col);
                let dash_step = self.step(depth + 1);
                for (i, it) in items.iter().enumerate() {
                    let ip = item(p, i);
                    if self.st.comments && i > 0 {
                        self.push(format!("{pad}# item {i}"), &ip, false);
                    }
                    match &it.kind {
                        Kind::Map(e) if !it.flow && !e.is_empty() => {
                            // The first entry goes on the dash line.
                            let start = self.lines.len();
                            let content_col = item_col + dash_step;
                            self.block_map(it, &ip, content_col, depth + 2);
                            // Comment lines before the first entry stay above the dash.
                            let first = (start..self.lines.len())
                                .find(|&j| !self.lines[j].text.trim_start().starts_with('#'))
                                .unwrap();
                            let dash = format!("{pad}-{}", " ".repeat(dash_step - 1));
                            let line = &mut self.lines[first];
                            line.text = format!("{dash}{}", &line.text[content_col..]);
                        }
                        _ => {
                            let lead = format!("{pad}-");
                            self.value(it, &ip, &lead, item_col, depth + 1);
                        }
                    }
                }
            }
        }
    }

    fn json_scalar(t: &str) -> String {
        match t {
            "~" | "null" | "" => "null".to_string(),
            t if t.starts_with('"') => t.to_string(),
            t if t.parse::<i64>().is_ok() => t.to_string(),
            t => serde_json::to_string(t).unwrap(),
        }
    }

    fn json_compact(&mut self, n: &Node, path: &Path) -> String {
        self.nodes.insert(path.clone(), NodeInfo { flow: true, empty: is_empty_node(n), ..NodeInfo::default() });
        match &n.kind {
            Kind::Scalar(t) => Self::json_scalar(t),
            Kind::Empty => "null".into(),
            Kind::Map(entries) => {
                let members: Vec<String> = entries
                    .iter()
                    .map(|e| {
                        format!(
                            "{}:{}",
                            serde_json::to_string(&e.key).unwrap(),
                            self.json_compact(&e.value, &child(path, &e.key))
                        )
                    })
                    .collect();
                format!("{{{}}}", members.join(","))
            }
            Kind::Seq(items) => {
                let members: Vec<String> =
                    items.iter().enumerate().map(|(i, it)| self.json_compact(it, &item(path, i))).collect();
                format!("[{}]", members.join(","))
            }
            other => panic!("not JSON: {other:?}"),
        }
    }

    /// Pretty JSON: `lead` is `"key": ` (or empty), `tail` is `,` (or empty).
    fn json_pretty(&mut self, n: &Node, path: &Path, col: usize, lead: &str, tail: &str) {
        self.nodes.insert(path.clone(), NodeInfo { flow: true, empty: is_empty_node(n), ..NodeInfo::default() });
        let pad = " ".repeat(col);
        match &n.kind {
            Kind::Map(entries) if !entries.is_empty() => {
                self.push(format!("{pad}{lead}{{"), path, false);
                for (i, e) in entries.iter().enumerate() {
                    let lead = format!("{}: ", serde_json::to_string(&e.key).unwrap());
                    let tail = if i + 1 < entries.len() { "," } else { "" };
                    self.json_pretty(&e.value, &child(path, &e.key), col + 2, &lead, tail);
                }
                self.push(format!("{pad}}}{tail}"), path, false);
            }
            Kind::Seq(items) if !items.is_empty() => {
                self.push(format!("{pad}{lead}["), path, false);
                for (i, it) in items.iter().enumerate() {
                    let tail = if i + 1 < items.len() { "," } else { "" };
                    self.json_pretty(it, &item(path, i), col + 2, "", tail);
                }
                self.push(format!("{pad}]{tail}"), path, false);
            }
            _ => {
                let t = self.json_compact(n, path);
                self.push(format!("{pad}{lead}{t}{tail}"), path, true);
            }
        }
    }
}

fn is_empty_node(n: &Node) -> bool {
    match &n.kind {
        Kind::Empty => true,
        Kind::Scalar(t) => t == "~" || t == "null",
        Kind::Map(e) => e.is_empty(),
        Kind::Seq(i) => i.is_empty(),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Edits: what a wiring asks for, applied to the value the readers see.

/// An edit, independent of the engine's types (tests convert it).
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// Set the node at `path` (creating missing or null parent mappings).
    Set { path: Path, value: Value },
    /// Remove a mapping entry or sequence item.
    Remove { path: Path },
    /// Insert `item` into the sequence at `path` (created when missing, null or empty); None appends.
    Insert { path: Path, index: Option<usize>, item: Value },
    /// Merge `item` into the sequence at `path` by its field `key` (see the edit API).
    Merge { path: Path, key: String, item: Value, front: bool },
}

/// What an edit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Did {
    /// Nothing (already so).
    Unchanged,
    /// A new entry or item.
    Added,
    /// An existing value replaced.
    Updated,
    /// Removed.
    Removed,
}

/// What a case must do: edit, refuse, or either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Edit exactly as asked.
    Edit,
    /// Refuse (`is_uneditable()`), or skip the document unchanged.
    Refuse,
    /// Either a correct edit or a refusal (an alias or merged node is only the target).
    EditOrRefuse,
}

/// The edits every style is tried with, relative to the pod template at `t`.
pub fn edits(t: &Path) -> Vec<(&'static str, Edit)> {
    let meta = child(t, "metadata");
    let spec = child(t, "spec");
    let c0 = item(&child(&spec, "containers"), 0);
    vec![
        ("annotation", Edit::Set { path: child(&child(&meta, "annotations"), "example.com/new"), value: json!("v1") }),
        (
            "annotation-update",
            Edit::Set { path: child(&child(&meta, "annotations"), "checksum/config"), value: json!("abc123") },
        ),
        ("label", Edit::Set { path: child(&child(&meta, "labels"), "tier"), value: json!("on") }),
        (
            "env",
            Edit::Merge {
                path: child(&c0, "env"),
                key: "name".into(),
                item: json!({"name": "POSTWIRE", "value": "1"}),
                front: false,
            },
        ),
        (
            "env-front",
            Edit::Merge {
                path: child(&c0, "env"),
                key: "name".into(),
                item: json!({"name": "FIRST", "value": "yes"}),
                front: true,
            },
        ),
        (
            "env-update",
            Edit::Merge {
                path: child(&c0, "env"),
                key: "name".into(),
                item: json!({"name": "LOG", "value": "debug"}),
                front: false,
            },
        ),
        (
            "volume",
            Edit::Merge {
                path: child(&spec, "volumes"),
                key: "name".into(),
                item: json!({"name": "pw", "configMap": {"name": "pw", "defaultMode": 420}}),
                front: false,
            },
        ),
        (
            "volume-mount",
            Edit::Merge {
                path: child(&c0, "volumeMounts"),
                key: "mountPath".into(),
                item: json!({"name": "pw", "mountPath": "/etc/pw", "readOnly": true}),
                front: false,
            },
        ),
        ("replace-scalar", Edit::Set { path: child(&c0, "image"), value: json!("nginx:1.27") }),
        (
            "replace-mapping",
            Edit::Set { path: child(&meta, "labels"), value: json!({"app": "web", "version": "2", "yes": null}) },
        ),
        (
            "set-new-mapping",
            Edit::Set {
                path: child(&c0, "resources"),
                value: json!({"limits": {"cpu": "500m", "memory": "0755"}, "requests": {}}),
            },
        ),
        ("remove-entry", Edit::Remove { path: child(&c0, "ports") }),
        ("remove-annotation", Edit::Remove { path: child(&child(&meta, "annotations"), "checksum/config") }),
        ("remove-absent", Edit::Remove { path: child(&c0, "livenessProbe") }),
        ("insert-arg-front", Edit::Insert { path: child(&c0, "args"), index: Some(0), item: json!("--verbose") }),
        (
            "insert-container",
            Edit::Insert {
                path: child(&spec, "containers"),
                index: Some(1),
                item: json!({"name": "sidecar", "image": "busybox:1.36", "args": ["sleep", "1e3"]}),
            },
        ),
        (
            "insert-volume-append",
            Edit::Insert { path: child(&spec, "volumes"), index: None, item: json!({"name": "tmp", "emptyDir": {}}) },
        ),
    ]
}

fn get<'a>(v: &'a Value, path: &[Seg]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, s| match s {
        Seg::Key(k) => v.as_object()?.get(k),
        Seg::Index(i) => v.as_array()?.get(*i),
    })
}

/// The node at `path`, creating missing or null mappings on the way.
fn make<'a>(v: &'a mut Value, path: &[Seg]) -> &'a mut Value {
    let mut cur = v;
    for s in path {
        cur = match s {
            Seg::Key(k) => {
                if cur.is_null() {
                    *cur = Value::Object(Map::new());
                }
                cur.as_object_mut().expect("mapping on the path").entry(k.clone()).or_insert(Value::Null)
            }
            Seg::Index(i) => &mut cur.as_array_mut().expect("sequence on the path")[*i],
        };
    }
    cur
}

impl Edit {
    /// The path the edit names.
    pub fn path(&self) -> &Path {
        match self {
            Edit::Set { path, .. } | Edit::Remove { path } | Edit::Insert { path, .. } | Edit::Merge { path, .. } => {
                path
            }
        }
    }

    /// Whether running the edit again must change nothing.
    pub fn idempotent(&self) -> bool {
        !matches!(self, Edit::Insert { .. })
    }

    /// Whether the edit applies to `value` (its path leads through mappings and sequences that
    /// exist or may be created). Edits that do not apply are not tried on that style.
    pub fn applies(&self, value: &Value) -> bool {
        let path = self.path();
        let mut cur = Some(value);
        for (i, s) in path.iter().enumerate() {
            let last = i + 1 == path.len();
            match (cur, s) {
                (None | Some(Value::Null), Seg::Key(_)) => cur = None,
                (Some(Value::Object(m)), Seg::Key(k)) => cur = m.get(k),
                (Some(Value::Array(a)), Seg::Index(j)) => {
                    if *j >= a.len() {
                        return false;
                    }
                    cur = a.get(*j)
                }
                (None, Seg::Index(_)) if last => return false,
                _ => return false,
            }
        }
        match self {
            Edit::Set { .. } | Edit::Remove { .. } => true,
            Edit::Insert { index, .. } => match cur {
                None | Some(Value::Null) => index.unwrap_or(0) == 0,
                Some(Value::Array(a)) => index.unwrap_or(0) <= a.len(),
                _ => false,
            },
            Edit::Merge { key, .. } => match cur {
                None | Some(Value::Null) => true,
                Some(Value::Array(a)) => a.iter().all(|i| i.is_object() && i.get(key).is_some()),
                _ => false,
            },
        }
    }

    /// Apply the edit to `value` (which it [`applies`](Edit::applies) to); what it did.
    pub fn apply(&self, value: &mut Value) -> Did {
        match self {
            Edit::Set { path, value: new } => {
                let (parent, last) = path.split_at(path.len() - 1);
                let old = get(value, path).cloned();
                if old.as_ref() == Some(new) {
                    return Did::Unchanged;
                }
                let p = make(value, parent);
                match &last[0] {
                    Seg::Key(k) => {
                        if p.is_null() {
                            *p = Value::Object(Map::new());
                        }
                        p.as_object_mut().unwrap().insert(k.clone(), new.clone());
                    }
                    Seg::Index(i) => p.as_array_mut().unwrap()[*i] = new.clone(),
                }
                if old.is_some() {
                    Did::Updated
                } else {
                    Did::Added
                }
            }
            Edit::Remove { path } => {
                let (parent, last) = path.split_at(path.len() - 1);
                let Some(p) = get(value, parent) else { return Did::Unchanged };
                let present = match (&last[0], p) {
                    (Seg::Key(k), Value::Object(m)) => m.contains_key(k),
                    (Seg::Index(i), Value::Array(a)) => *i < a.len(),
                    _ => false,
                };
                if !present {
                    return Did::Unchanged;
                }
                let p = make(value, parent);
                match &last[0] {
                    Seg::Key(k) => {
                        p.as_object_mut().unwrap().remove(k);
                    }
                    Seg::Index(i) => {
                        p.as_array_mut().unwrap().remove(*i);
                    }
                }
                Did::Removed
            }
            Edit::Insert { path, index, item } => {
                let s = make(value, path);
                if s.is_null() {
                    *s = Value::Array(Vec::new());
                }
                let a = s.as_array_mut().unwrap();
                a.insert(index.unwrap_or(a.len()), item.clone());
                Did::Added
            }
            Edit::Merge { path, key, item, front } => {
                let s = make(value, path);
                if s.is_null() {
                    *s = Value::Array(Vec::new());
                }
                let a = s.as_array_mut().unwrap();
                match a.iter_mut().find(|i| i.get(key) == item.get(key)) {
                    Some(found) => {
                        let mut changed = false;
                        for (k, v) in item.as_object().unwrap() {
                            if found.get(k) != Some(v) {
                                found.as_object_mut().unwrap().insert(k.clone(), v.clone());
                                changed = true;
                            }
                        }
                        if changed {
                            Did::Updated
                        } else {
                            Did::Unchanged
                        }
                    }
                    None => {
                        if *front {
                            a.insert(0, item.clone());
                        } else {
                            a.push(item.clone());
                        }
                        Did::Added
                    }
                }
            }
        }
    }

    /// Whether the style's layout makes this edit one to refuse.
    ///
    /// Refused: any edit of a document with YAML 1.1-only line breaks or lone CRs; an edit
    /// whose path leads *through* an alias, a node shared through aliases or a mapping with a
    /// merge key (the node the edit writes into, or any node above it). Either edited or
    /// refused: an edit through an explicit `? key` entry (the layer edits inside its value but
    /// cannot put new lines in front of the `?`), and an edit that only *targets* an alias,
    /// shared or merged node (replacing or removing it).
    pub fn expect(&self, styled: &Styled) -> Expect {
        if styled.style.refuse_all().is_some() {
            return Expect::Refuse;
        }
        let path = self.path();
        // Set and Remove write into the parent; Insert and Merge into the sequence itself.
        let through = match self {
            Edit::Set { .. } | Edit::Remove { .. } => path.len() - 1,
            Edit::Insert { .. } | Edit::Merge { .. } => path.len(),
        };
        let info = |p: &[Seg]| styled.nodes.get(p).cloned().unwrap_or_default();
        let shared = |i: &NodeInfo| i.alias || i.shared || i.merge;
        if (0..=through).any(|n| shared(&info(&path[..n]))) {
            return Expect::Refuse;
        }
        if (0..=path.len()).any(|n| info(&path[..n]).explicit) || (through < path.len() && shared(&info(path))) {
            return Expect::EditOrRefuse;
        }
        Expect::Edit
    }

    /// Lines of the input this edit may replace or remove (indices into [`Styled::lines`]);
    /// every other input line must stay, in order. `value` is the input's value.
    pub fn allowed_lines(&self, styled: &Styled, value: &Value) -> BTreeSet<usize> {
        let path = self.path();
        // Subtrees that may be rewritten, and the node new text goes into.
        let (targets, into): (Vec<Path>, Path) = match self {
            Edit::Set { .. } | Edit::Remove { .. } => (vec![path.clone()], path[..path.len() - 1].to_vec()),
            Edit::Insert { .. } => (vec![], path.clone()),
            Edit::Merge { key, item: it, .. } => {
                let found = get(value, path)
                    .and_then(Value::as_array)
                    .and_then(|a| a.iter().position(|i| i.get(key) == it.get(key)));
                match found {
                    Some(i) => {
                        let ip = item(path, i);
                        let fields = it.as_object().unwrap().keys().map(|k| child(&ip, k)).collect();
                        (fields, ip)
                    }
                    None => (vec![], path.clone()),
                }
            }
        };
        // The deepest node of `into` that is written in the text.
        let mut at = into.clone();
        while !styled.nodes.contains_key(&at) {
            at.pop();
        }
        let at_flow = styled.nodes[&at].flow;
        let remove = matches!(self, Edit::Remove { .. });
        let mut allowed = BTreeSet::new();
        for (i, line) in styled.lines.iter().enumerate() {
            let Some(owner) = &line.owner else { continue };
            let ok = targets.iter().any(|t| owner.starts_with(t))
                // Filling an empty value or a one-line flow collection on the way rewrites its line.
                || (line.compact && at.starts_with(owner))
                // Inside a multi-line flow collection, separators of its members change.
                || (at_flow && owner.starts_with(&at))
                // Removing the last entry of a block mapping leaves `key: {}`.
                || (remove && *owner == at);
            if ok {
                allowed.insert(i);
            }
        }
        allowed
    }
}

// ---------------------------------------------------------------------------------------------
// Checking.

/// Lines of `output` against `input`: every input line outside `allowed` must be in the output,
/// in order (a longest common subsequence of the lines); the output keeps the input's line
/// breaks. Returns a message naming the first lost line.
pub fn check_lines(input: &str, output: &str, allowed: &BTreeSet<usize>) -> Result<(), String> {
    let a: Vec<&str> = split_lines(input);
    let b: Vec<&str> = split_lines(output);
    let kept = lcs_kept(&a, &b);
    for (i, line) in a.iter().enumerate() {
        if !kept[i] && !allowed.contains(&i) {
            return Err(format!(
                "input line {} {line:?} was replaced or removed but the edit does not touch it (allowed: {:?})",
                i + 1,
                allowed.iter().map(|i| i + 1).collect::<Vec<_>>()
            ));
        }
    }
    let crlf = input.contains("\r\n");
    if crlf && output.replace("\r\n", "").contains('\n') {
        return Err("the input uses CRLF line breaks but the output has a bare LF".into());
    }
    if !crlf && !input.contains('\r') && output.contains('\r') {
        return Err("the output has a CR the input did not have".into());
    }
    Ok(())
}

/// Lines without their breaks (`\r\n`, `\n`, or a lone `\r`).
pub fn split_lines(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => {
                out.push(&text[start..i]);
                i += 1;
                start = i + 1;
            }
            b'\r' => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// For each line of `a`, whether a longest common subsequence of `a` and `b` keeps it.
fn lcs_kept(a: &[&str], b: &[&str]) -> Vec<bool> {
    let (n, m) = (a.len(), b.len());
    let mut t = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            t[i][j] = if a[i] == b[j] { t[i + 1][j + 1] + 1 } else { t[i + 1][j].max(t[i][j + 1]) };
        }
    }
    let mut kept = vec![false; n];
    let (mut i, mut j) = (0, 0);
    while i < n && j < m {
        if a[i] == b[j] {
            kept[i] = true;
            i += 1;
            j += 1;
        } else if t[i + 1][j] >= t[i][j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    kept
}

/// What one YAML 1.1 reader makes of a document: its value in plain JSON, or its error.
pub type Reading = Result<Value, String>;

/// Both readers' view of each document text (one text = one document), in one oracle run.
pub fn read_all(oracle: &Oracle, texts: &[String]) -> Vec<[Reading; 2]> {
    let input = serde_json::to_vec(texts).unwrap();
    let out = run(&mut oracle.command(["load"]), &input);
    assert!(out.status.success(), "oracle load failed: {}", crate::util::describe(&out));
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).expect("oracle load prints JSON");
    assert_eq!(rows.len(), texts.len(), "oracle load: one row per document");
    rows.iter()
        .map(|row| {
            ["pyyaml", "yamlv2"].map(|r| match (&row[r]["ok"], &row[r]["error"]) {
                (_, Value::String(e)) => Err(e.clone()),
                (v, _) => Ok(untag(v)),
            })
        })
        .collect()
}

/// The oracle's type-strict encoding as plain JSON: strings, integers, booleans and nulls as
/// themselves; any other leaf as `{"!type": text}`; a key that is not a string as `"<int:1>"`.
pub fn untag(v: &Value) -> Value {
    match v {
        Value::Array(items) => items.iter().map(untag).collect(),
        Value::Object(m) if m.len() == 1 && m.keys().next().unwrap().starts_with('!') => {
            let (tag, inner) = m.iter().next().unwrap();
            match (tag.as_str(), inner) {
                ("!str", Value::String(s)) => Value::String(s.clone()),
                ("!int", Value::String(s)) => {
                    s.parse::<i64>().map(Value::from).unwrap_or_else(|_| json!({ "!int": s }))
                }
                ("!bool", b) => b.clone(),
                ("!null", _) => Value::Null,
                _ => v.clone(),
            }
        }
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let key = match k.strip_prefix("str:") {
                        Some(s) => s.to_string(),
                        None => format!("<{k}>"),
                    };
                    (key, untag(v))
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Both readings of an output equal `want`; the message names the reader and the difference.
pub fn check_value(want: &Value, got: &[Reading; 2]) -> Result<(), String> {
    for (reader, r) in ["PyYAML", "yaml.v2"].iter().zip(got) {
        match r {
            Err(e) => return Err(format!("{reader} cannot read the output: {e}")),
            Ok(v) if v != want => {
                return Err(format!(
                    "{reader} reads the output as\n{}\nbut the input plus the change is\n{}",
                    serde_json::to_string(v).unwrap(),
                    serde_json::to_string(want).unwrap()
                ))
            }
            Ok(_) => {}
        }
    }
    Ok(())
}

/// The input's value, when both readers agree on it.
pub fn agreed(readings: &[Reading; 2]) -> Result<Value, String> {
    match readings {
        [Ok(a), Ok(b)] if a == b => Ok(a.clone()),
        [Ok(a), Ok(b)] => Err(format!("the readers disagree on the input:\nPyYAML  {a}\nyaml.v2 {b}")),
        [a, b] => Err(format!("a reader cannot read the input: PyYAML {a:?}, yaml.v2 {b:?}")),
    }
}

// ---------------------------------------------------------------------------------------------
// The generator's own checks.

/// Every preset and a sample of random styles load, to both readers, as the same Deployment or
/// Pod with a pod template holding containers; the presets cover the styles the issue lists.
#[test]
fn generated_documents_are_what_they_claim() {
    const TEST: &str = "styles_generator";
    let Some(oracle) = Oracle::find(TEST) else { return };
    let mut styles = named();
    assert!(styles.len() >= 30, "{} presets", styles.len());
    let names: BTreeSet<&str> = styles.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names.len(), styles.len(), "preset names are unique");
    styles.extend(sampled(200));
    let rendered: Vec<Styled> = styles.iter().map(Style::render).collect();
    if let Some(dir) = std::env::var_os("POSTWIRE_STYLES_DUMP") {
        // For a look at the documents: one file per preset.
        std::fs::create_dir_all(&dir).unwrap();
        for r in rendered.iter().filter(|r| !r.style.name.starts_with("random")) {
            std::fs::write(std::path::Path::new(&dir).join(format!("{}.yaml", r.style.name)), &r.text).unwrap();
        }
    }
    let texts: Vec<String> = rendered.iter().map(|r| r.text.clone()).collect();
    let readings = read_all(&oracle, &texts);
    let mut failures = Vec::new();
    for (r, reading) in rendered.iter().zip(&readings) {
        let name = &r.style.name;
        if r.style.refuse_all().is_some() {
            // YAML 1.1 readers see what the 1.2 parser does not; both must still load it.
            if let Err(e) = agreed(reading) {
                failures.push(format!("{name}: {e}\n{}", r.text));
            }
            continue;
        }
        let value = match agreed(reading) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{name}: {e}\n{}", r.text));
                continue;
            }
        };
        let kind = if r.style.pod { "Pod" } else { "Deployment" };
        let containers = get(&value, &child(&child(&r.template, "spec"), "containers"));
        if value["kind"] != kind || !containers.is_some_and(Value::is_array) {
            failures.push(format!("{name}: not a {kind} with containers: {value}\n{}", r.text));
        }
        if r.lines.len() != split_lines(&r.text).len() {
            failures.push(format!("{name}: {} lines recorded, {} written", r.lines.len(), split_lines(&r.text).len()));
        }
    }
    assert!(failures.is_empty(), "{} generated documents are wrong:\n\n{}", failures.len(), failures.join("\n\n"));
}
