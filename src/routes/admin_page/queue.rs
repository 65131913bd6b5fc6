//! Pure: which mentions the moderation page shows and what its forms ask for. The filters of
//! the page (status tab, site, cursor), the order of each tab, the merge of per-site pages into
//! one page, the decoding of the action form, and the address to go back to afterwards.
//!
//! No store, no HTTP: the handlers in `admin_page` read and act. Anything decoded here came
//! from a browser and is checked, never trusted: unknown values are errors, not defaults.

use url::form_urlencoded;

use crate::model::{MentionId, Status};
use crate::routes::admin::MAX_BULK_IDS;
use crate::routes::listing::{decode_cursor, encode_cursor};
use crate::store::{Order, Page};

/// Mentions per page of the queue: a screenful or three, worked through before paging.
pub(crate) const QUEUE_PAGE_SIZE: usize = 50;

/// A tab of the page: one status, or everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tab {
    /// Mentions of one status.
    Only(Status),
    /// Every mention, whatever its status.
    All,
}

impl Tab {
    /// The tabs in the order the page lists them; the first is the default.
    pub(crate) const ALL: [Self; 6] = [
        Self::Only(Status::Pending),
        Self::Only(Status::Spam),
        Self::Only(Status::Approved),
        Self::Only(Status::Rejected),
        Self::Only(Status::Deleted),
        Self::All,
    ];

    /// The tab named `name` in the address (`status=`).
    pub(crate) fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// Its name in the address and on the page.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Only(status) => status.as_str(),
            Self::All => "all",
        }
    }

    /// Whether a mention of `status` belongs in this tab.
    pub(crate) fn keeps(self, status: Status) -> bool {
        match self {
            Self::Only(s) => s == status,
            Self::All => true,
        }
    }

    /// Pending is a queue, worked oldest first; every other tab shows the latest first.
    pub(crate) fn order(self) -> Order {
        match self {
            Self::Only(Status::Pending) => Order::Oldest,
            _ => Order::Newest,
        }
    }
}

/// What the page shows: its tab, its site (all the actor's sites when `None`) and where in the
/// tab it starts. Also what an action goes back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueueFilter {
    /// The status tab.
    pub(crate) tab: Tab,
    /// One site, or every site the actor covers.
    pub(crate) site: Option<String>,
    /// Continue after this mention id (in the tab's order).
    pub(crate) after: Option<MentionId>,
}

impl Default for QueueFilter {
    fn default() -> Self {
        Self {
            tab: Tab::ALL[0],
            site: None,
            after: None,
        }
    }
}

/// Why a filter or a form cannot be used; the message is safe to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FormError {
    /// `status=` names no tab.
    #[error("unknown status tab")]
    Tab,
    /// `cursor=` is not one the page issued.
    #[error("the page cursor is not one this service issued")]
    Cursor,
    /// No action, or an unknown one.
    #[error("no known action was chosen")]
    Action,
    /// An id that is not a number.
    #[error("a mention id is not a number")]
    Id,
    /// A bulk action with nothing selected.
    #[error("select at least one mention first")]
    NothingSelected,
    /// More ids than one request may carry.
    #[error("at most {MAX_BULK_IDS} mentions at once")]
    TooMany,
}

impl QueueFilter {
    /// Reads `status`, `site` and `cursor` (empty values count as absent).
    pub(crate) fn from_fields<'a>(
        fields: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, FormError> {
        let mut filter = Self::default();
        for (name, value) in fields {
            if value.is_empty() {
                continue;
            }
            match name {
                "status" => filter.tab = Tab::parse(value).ok_or(FormError::Tab)?,
                "site" => filter.site = Some(value.to_owned()),
                "cursor" => filter.after = Some(decode_cursor(value).ok_or(FormError::Cursor)?),
                _ => {}
            }
        }
        Ok(filter)
    }

    /// `/admin?status=…&site=…&cursor=…` (only what differs from the default), plus `extra`.
    pub(crate) fn href(&self, extra: &[(&str, &str)]) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if self.tab != Tab::ALL[0] {
            query.append_pair("status", self.tab.as_str());
        }
        if let Some(site) = &self.site {
            query.append_pair("site", site);
        }
        if let Some(after) = self.after {
            query.append_pair("cursor", &encode_cursor(after));
        }
        for (name, value) in extra {
            query.append_pair(name, value);
        }
        let query = query.finish();
        if query.is_empty() {
            "/admin".to_owned()
        } else {
            format!("/admin?{query}")
        }
    }
}

/// What a moderator does to mentions from the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Publish.
    Approve,
    /// Mark as spam.
    Spam,
    /// Refuse.
    Reject,
    /// Block the source's host on the mention's site, and mark the mention spam.
    BlockDomain,
}

impl Action {
    /// Every action, in the order the buttons appear.
    pub(crate) const ALL: [Self; 4] = [Self::Approve, Self::Spam, Self::Reject, Self::BlockDomain];

    /// The action's name in forms and addresses.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Spam => "spam",
            Self::Reject => "reject",
            Self::BlockDomain => "block",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// The status the mention ends with.
    pub(crate) fn status(self) -> Status {
        match self {
            Self::Approve => Status::Approved,
            Self::Spam | Self::BlockDomain => Status::Spam,
            Self::Reject => Status::Rejected,
        }
    }
}

/// A decoded action form: what to do, to which mentions, and the page to go back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ActionForm {
    /// The action.
    pub(crate) action: Action,
    /// The mentions, in the order given, without repeats.
    pub(crate) ids: Vec<MentionId>,
    /// The page the form was on.
    pub(crate) back: QueueFilter,
}

impl ActionForm {
    /// Decodes the queue's form. One form holds the whole page, so that checkboxes and buttons
    /// work without JavaScript: a button of one mention submits `one=ACTION:ID` (and the
    /// checkboxes, which are then ignored); a bulk button submits `bulk=ACTION` with the checked
    /// `id`s. The `csrf` field is checked by the caller.
    pub(crate) fn parse<'a>(
        fields: impl IntoIterator<Item = (&'a str, &'a str)> + Clone,
    ) -> Result<Self, FormError> {
        let back = QueueFilter::from_fields(fields.clone())?;
        let mut one = None;
        let mut bulk = None;
        let mut checked = Vec::new();
        for (name, value) in fields {
            match name {
                "one" => one = Some(value),
                "bulk" => bulk = Some(value),
                "id" => checked.push(value),
                _ => {}
            }
        }
        let parse_id = |text: &str| text.trim().parse::<MentionId>().map_err(|_| FormError::Id);
        let (action, ids) = if let Some(one) = one {
            let (action, id) = one.split_once(':').ok_or(FormError::Action)?;
            (action, vec![parse_id(id)?])
        } else {
            let action = bulk.ok_or(FormError::Action)?;
            if checked.len() > MAX_BULK_IDS {
                return Err(FormError::TooMany);
            }
            let mut ids = Vec::with_capacity(checked.len());
            for id in checked {
                let id = parse_id(id)?;
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            if ids.is_empty() {
                return Err(FormError::NothingSelected);
            }
            (action, ids)
        };
        Ok(Self {
            action: Action::parse(action).ok_or(FormError::Action)?,
            ids,
            back,
        })
    }
}

/// What the last action did, carried in the address it redirects to (`done`, `n`, `failed`,
/// `rules`) so that a reload shows it again and nothing of it is free text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Notice {
    /// The action.
    pub(crate) action: Action,
    /// Mentions it changed.
    pub(crate) changed: usize,
    /// Mentions it could not change (gone meanwhile).
    pub(crate) failed: usize,
    /// Block rules it added.
    pub(crate) rules: usize,
}

impl Notice {
    /// The notice in `fields`, if there is a well-formed one; anything else is ignored.
    pub(crate) fn from_fields<'a>(
        fields: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Option<Self> {
        let (mut action, mut changed, mut failed, mut rules) = (None, None, 0, 0);
        for (name, value) in fields {
            match name {
                "done" => action = Action::parse(value),
                "n" => changed = value.parse().ok(),
                "failed" => failed = value.parse().unwrap_or(0),
                "rules" => rules = value.parse().unwrap_or(0),
                _ => {}
            }
        }
        Some(Self {
            action: action?,
            changed: changed?,
            failed,
            rules,
        })
    }

    /// The fields that carry it.
    pub(crate) fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("done", self.action.as_str().to_owned()),
            ("n", self.changed.to_string()),
            ("failed", self.failed.to_string()),
            ("rules", self.rules.to_string()),
        ]
    }
}

/// Merges pages read per site (each in `order`, each after the same cursor) into one page of at
/// most `limit`, with a cursor that skips nothing: a site's page that stopped early (its `next`)
/// bounds how far the merged page may go, because that site may hold mentions beyond its stop
/// that another site's page already passed.
pub(crate) fn merge_pages(order: Order, limit: usize, pages: Vec<Page>) -> Page {
    let ahead = |a: MentionId, b: MentionId| match order {
        Order::Oldest => a < b,
        Order::Newest => a > b,
    };
    // The nearest stop of any site: nothing past it is certain to be complete.
    let bound = pages
        .iter()
        .filter_map(|p| p.next)
        .reduce(|a, b| if ahead(a, b) { a } else { b });
    let mut mentions: Vec<_> = pages
        .into_iter()
        .flat_map(|p| p.mentions)
        .filter(|m| bound.is_none_or(|b| m.id == b || ahead(m.id, b)))
        .collect();
    mentions.sort_by_key(|m| m.id);
    if order == Order::Newest {
        mentions.reverse();
    }
    let next = if mentions.len() > limit {
        mentions.truncate(limit);
        mentions.last().map(|m| m.id)
    } else {
        bound
    };
    Page { mentions, next }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Mention;

    fn mention(id: MentionId) -> Mention {
        Mention::example(id, "", "")
    }

    fn page(ids: &[MentionId], next: Option<MentionId>) -> Page {
        Page {
            mentions: ids.iter().copied().map(mention).collect(),
            next,
        }
    }

    fn ids(page: &Page) -> Vec<MentionId> {
        page.mentions.iter().map(|m| m.id).collect()
    }

    #[test]
    fn tabs_parse_back_and_pending_is_worked_oldest_first() {
        for tab in Tab::ALL {
            assert_eq!(Tab::parse(tab.as_str()), Some(tab));
        }
        assert_eq!(Tab::parse("queued"), None);
        assert_eq!(Tab::ALL[0].order(), Order::Oldest);
        assert_eq!(Tab::Only(Status::Spam).order(), Order::Newest);
        assert!(Tab::All.keeps(Status::Queued));
        assert!(!Tab::Only(Status::Pending).keeps(Status::Approved));
    }

    #[test]
    fn filters_round_trip_through_their_address() {
        let filter = QueueFilter {
            tab: Tab::Only(Status::Spam),
            site: Some("a b&c".to_owned()),
            after: Some(42),
        };
        let href = filter.href(&[("done", "approve")]);
        assert_eq!(
            href,
            "/admin?status=spam&site=a+b%26c&cursor=c2a&done=approve"
        );
        let query = href.split_once('?').expect("query").1;
        let fields: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let back = QueueFilter::from_fields(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        assert_eq!(back, Ok(filter));
        assert_eq!(QueueFilter::default().href(&[]), "/admin");
        assert_eq!(
            QueueFilter::from_fields([("status", "bogus")]),
            Err(FormError::Tab)
        );
        assert_eq!(
            QueueFilter::from_fields([("cursor", "zz")]),
            Err(FormError::Cursor)
        );
        assert_eq!(
            QueueFilter::from_fields([("status", ""), ("site", "")]),
            Ok(QueueFilter::default())
        );
    }

    #[test]
    fn one_button_acts_on_its_mention_and_ignores_the_checkboxes() {
        let form = ActionForm::parse([
            ("csrf", "t"),
            ("status", "spam"),
            ("id", "3"),
            ("one", "approve:7"),
        ]);
        assert_eq!(
            form,
            Ok(ActionForm {
                action: Action::Approve,
                ids: vec![7],
                back: QueueFilter {
                    tab: Tab::Only(Status::Spam),
                    ..QueueFilter::default()
                },
            })
        );
    }

    #[test]
    fn bulk_buttons_act_on_the_checked_mentions() {
        let form = ActionForm::parse([("id", "3"), ("id", "5"), ("id", "3"), ("bulk", "block")])
            .expect("form");
        assert_eq!((form.action, form.ids), (Action::BlockDomain, vec![3, 5]));
        assert_eq!(Action::BlockDomain.status(), Status::Spam);
        assert_eq!(
            ActionForm::parse([("bulk", "approve")]),
            Err(FormError::NothingSelected)
        );
        assert_eq!(
            ActionForm::parse([("id", "x"), ("bulk", "approve")]),
            Err(FormError::Id)
        );
        assert_eq!(
            ActionForm::parse([("id", "1"), ("bulk", "delete")]),
            Err(FormError::Action)
        );
        assert_eq!(ActionForm::parse([("id", "1")]), Err(FormError::Action));
        assert_eq!(
            ActionForm::parse([("one", "approve")]),
            Err(FormError::Action)
        );
        let many: Vec<(&str, &str)> = (0..=MAX_BULK_IDS)
            .map(|_| ("id", "1"))
            .chain([("bulk", "spam")])
            .collect();
        assert_eq!(ActionForm::parse(many), Err(FormError::TooMany));
    }

    #[test]
    fn notices_round_trip_and_ignore_junk() {
        let notice = Notice {
            action: Action::BlockDomain,
            changed: 2,
            failed: 1,
            rules: 1,
        };
        let fields = notice.fields();
        let back = Notice::from_fields(fields.iter().map(|(k, v)| (*k, v.as_str())));
        assert_eq!(back, Some(notice));
        assert_eq!(
            Notice::from_fields([("done", "<script>"), ("n", "1")]),
            None
        );
        assert_eq!(Notice::from_fields([("done", "spam")]), None);
    }

    #[test]
    fn merged_pages_keep_the_order_and_the_limit() {
        let merged = merge_pages(
            Order::Oldest,
            3,
            vec![page(&[1, 4, 6], None), page(&[2, 3], None)],
        );
        assert_eq!((ids(&merged), merged.next), (vec![1, 2, 3], Some(3)));
        let merged = merge_pages(
            Order::Newest,
            10,
            vec![page(&[6, 4, 1], None), page(&[3, 2], None)],
        );
        assert_eq!((ids(&merged), merged.next), (vec![6, 4, 3, 2, 1], None));
    }

    #[test]
    fn a_site_that_stopped_early_bounds_the_merged_page() {
        // Site A scanned up to id 10 only (more may follow); site B already reached 30.
        let merged = merge_pages(
            Order::Oldest,
            50,
            vec![page(&[5], Some(10)), page(&[8, 20, 30], None)],
        );
        assert_eq!((ids(&merged), merged.next), (vec![5, 8], Some(10)));
        let merged = merge_pages(
            Order::Newest,
            50,
            vec![page(&[40], Some(35)), page(&[38, 20], None)],
        );
        assert_eq!((ids(&merged), merged.next), (vec![40, 38], Some(35)));
    }
}
