//! The element names the extractor acts on, and the HTML tree-building facts it needs about
//! them: which are excerpt blocks, which close an open `<p>`, where a search for an open
//! element stops.
//!
//! This is a deliberately small subset of the WHATWG tree builder: enough to find the block a
//! link sits in, not to build a DOM. Every name not listed is [`Tag::Other`] and has no effect
//! on structure.

/// An element name the extractor distinguishes. The tokenizer has already lower-cased it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tag {
    // Excerpt blocks, in the order of the contract's list.
    Address,
    Article,
    Aside,
    Blockquote,
    Body,
    Caption,
    Dd,
    Details,
    Dialog,
    Div,
    Dl,
    Dt,
    Fieldset,
    Figcaption,
    Figure,
    Footer,
    Form,
    H1,
    H2,
    H3,
    H4,
    H5,
    H6,
    Header,
    Li,
    Main,
    Nav,
    Ol,
    P,
    Pre,
    Section,
    Summary,
    Table,
    Tbody,
    Td,
    Tfoot,
    Th,
    Thead,
    Tr,
    Ul,
    // Not excerpt blocks, but HTML closes an open <p> when they start.
    Center,
    Dir,
    Hgroup,
    Hr,
    Listing,
    Menu,
    Plaintext,
    Search,
    Xmp,
    // Elements with another role.
    A,
    Area,
    Base,
    Br,
    Head,
    Img,
    Meta,
    Noscript,
    Script,
    Style,
    Svg,
    Template,
    Title,
    // Elements whose URL attribute counts as a link under the webmention rule only.
    Audio,
    Embed,
    Iframe,
    Link,
    Object,
    Source,
    Track,
    Video,
    Other,
}

impl Tag {
    /// Classifies a lower-case tag name.
    pub(super) fn from_name(name: &[u8]) -> Self {
        match name {
            b"a" => Self::A,
            b"p" => Self::P,
            b"div" => Self::Div,
            b"li" => Self::Li,
            b"br" => Self::Br,
            b"img" => Self::Img,
            b"td" => Self::Td,
            b"tr" => Self::Tr,
            b"meta" => Self::Meta,
            b"script" => Self::Script,
            b"style" => Self::Style,
            b"title" => Self::Title,
            b"address" => Self::Address,
            b"article" => Self::Article,
            b"aside" => Self::Aside,
            b"blockquote" => Self::Blockquote,
            b"body" => Self::Body,
            b"caption" => Self::Caption,
            b"dd" => Self::Dd,
            b"details" => Self::Details,
            b"dialog" => Self::Dialog,
            b"dl" => Self::Dl,
            b"dt" => Self::Dt,
            b"fieldset" => Self::Fieldset,
            b"figcaption" => Self::Figcaption,
            b"figure" => Self::Figure,
            b"footer" => Self::Footer,
            b"form" => Self::Form,
            b"h1" => Self::H1,
            b"h2" => Self::H2,
            b"h3" => Self::H3,
            b"h4" => Self::H4,
            b"h5" => Self::H5,
            b"h6" => Self::H6,
            b"header" => Self::Header,
            b"main" => Self::Main,
            b"nav" => Self::Nav,
            b"ol" => Self::Ol,
            b"pre" => Self::Pre,
            b"section" => Self::Section,
            b"summary" => Self::Summary,
            b"table" => Self::Table,
            b"tbody" => Self::Tbody,
            b"tfoot" => Self::Tfoot,
            b"th" => Self::Th,
            b"thead" => Self::Thead,
            b"ul" => Self::Ul,
            b"center" => Self::Center,
            b"dir" => Self::Dir,
            b"hgroup" => Self::Hgroup,
            b"hr" => Self::Hr,
            b"listing" => Self::Listing,
            b"menu" => Self::Menu,
            b"plaintext" => Self::Plaintext,
            b"search" => Self::Search,
            b"xmp" => Self::Xmp,
            b"area" => Self::Area,
            b"base" => Self::Base,
            b"head" => Self::Head,
            b"noscript" => Self::Noscript,
            b"svg" => Self::Svg,
            b"template" => Self::Template,
            b"audio" => Self::Audio,
            b"embed" => Self::Embed,
            b"iframe" => Self::Iframe,
            b"link" => Self::Link,
            b"object" => Self::Object,
            b"source" => Self::Source,
            b"track" => Self::Track,
            b"video" => Self::Video,
            _ => Self::Other,
        }
    }

    /// One of the elements an excerpt is cut from; its start and end read as whitespace.
    pub(super) fn is_block(self) -> bool {
        use Tag::*;
        matches!(
            self,
            Address
                | Article
                | Aside
                | Blockquote
                | Body
                | Caption
                | Dd
                | Details
                | Dialog
                | Div
                | Dl
                | Dt
                | Fieldset
                | Figcaption
                | Figure
                | Footer
                | Form
                | H1
                | H2
                | H3
                | H4
                | H5
                | H6
                | Header
                | Li
                | Main
                | Nav
                | Ol
                | P
                | Pre
                | Section
                | Summary
                | Table
                | Tbody
                | Td
                | Tfoot
                | Th
                | Thead
                | Tr
                | Ul
        )
    }

    /// Kept on the open-element stack: the blocks, plus `head` and `template`, whose content is
    /// not page text.
    pub(super) fn is_tracked(self) -> bool {
        self.is_block() || matches!(self, Tag::Head | Tag::Template)
    }

    pub(super) fn is_heading(self) -> bool {
        matches!(
            self,
            Tag::H1 | Tag::H2 | Tag::H3 | Tag::H4 | Tag::H5 | Tag::H6
        )
    }

    /// A start tag that closes an open `<p>` ("close a p element" in the WHATWG "in body"
    /// insertion mode).
    pub(super) fn closes_p(self) -> bool {
        use Tag::*;
        self.is_heading()
            || matches!(
                self,
                Address
                    | Article
                    | Aside
                    | Blockquote
                    | Center
                    | Details
                    | Dialog
                    | Dir
                    | Div
                    | Dl
                    | Fieldset
                    | Figcaption
                    | Figure
                    | Footer
                    | Form
                    | Header
                    | Hgroup
                    | Hr
                    | Listing
                    | Main
                    | Menu
                    | Nav
                    | Ol
                    | P
                    | Plaintext
                    | Pre
                    | Search
                    | Section
                    | Summary
                    | Table
                    | Ul
                    | Xmp
                    | Li
                    | Dd
                    | Dt
            )
    }

    /// A start tag that leaves `<head>` open (unknown names included); any other ends it, as
    /// the WHATWG "in head" insertion mode does.
    pub(super) fn allowed_in_head(self) -> bool {
        use Tag::*;
        matches!(
            self,
            Base | Link | Meta | Noscript | Script | Style | Template | Title | Head | Other
        )
    }

    /// Ends the search for an open element, as the WHATWG "has an element in scope" does.
    pub(super) fn bounds_scope(self, scope: Scope) -> bool {
        match scope {
            Scope::Default => {
                matches!(
                    self,
                    Tag::Caption | Tag::Table | Tag::Td | Tag::Th | Tag::Template
                )
            }
            Scope::ListItem => {
                matches!(
                    self,
                    Tag::Caption
                        | Tag::Table
                        | Tag::Td
                        | Tag::Th
                        | Tag::Template
                        | Tag::Ol
                        | Tag::Ul
                )
            }
            Scope::Table => matches!(self, Tag::Table | Tag::Template),
            Scope::Document => false,
        }
    }

    /// The scope an end tag of this element searches.
    pub(super) fn end_tag_scope(self) -> Scope {
        match self {
            Tag::Li => Scope::ListItem,
            Tag::Table | Tag::Tbody | Tag::Tfoot | Tag::Thead | Tag::Tr | Tag::Td | Tag::Th => {
                Scope::Table
            }
            Tag::Template | Tag::Head | Tag::Body => Scope::Document,
            _ => Scope::Default,
        }
    }

    /// Whether an end tag named `self` closes an open `other` (any heading closes any heading).
    pub(super) fn ends(self, other: Tag) -> bool {
        self == other || (self.is_heading() && other.is_heading())
    }
}

/// Which elements stop a search down the open-element stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scope {
    /// `caption`, `table`, `td`, `th`, `template` (and the root).
    Default,
    /// The default scope plus `ol` and `ul`.
    ListItem,
    /// `table` and `template` (and the root).
    Table,
    /// Nothing but the root.
    Document,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_contract_block_is_a_block() {
        let blocks = "address article aside blockquote body caption dd details dialog div dl dt \
                      fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6 header li main \
                      nav ol p pre section summary table tbody td tfoot th thead tr ul";
        for name in blocks.split_whitespace() {
            assert!(
                Tag::from_name(name.as_bytes()).is_block(),
                "{name} should be a block"
            );
        }
        for name in [
            "a", "span", "em", "br", "img", "center", "hr", "head", "x-custom", "link", "video",
            "object", "iframe",
        ] {
            assert!(
                !Tag::from_name(name.as_bytes()).is_block(),
                "{name} is not a block"
            );
        }
    }
}
