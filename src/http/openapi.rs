//! The OpenAPI 3 document, generated from the handlers' annotations and served at
//! `/api/openapi.json`. Each HTTP module contributes its part; they are merged here.

use std::collections::{HashMap, HashSet};

use actix_web::HttpResponse;
use utoipa::openapi::path::{Operation, PathItem, Paths};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Components, RefOr};
use utoipa::{OpenApi, ToSchema};

use super::{
    actions, auth, automation, content, conversations, groups, health, metrics, operators, otp,
    telegram, telegram_admin, widget, ws,
};
use crate::actors::conversation::Ack;
use crate::domain::{
    Author, Channel, ConversationStatus, EventKind, Presence, Role, RoutingStrategy,
};
use crate::protocol::{ConversationSummary, OperatorView};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchboard API",
        description = "Live-chat customer support: widget sessions, operators, conversations. \
            Roles rank agent < supervisor < admin; each operation names the least role it needs. \
            Every error answers `{\"error\": {\"code\", \"message\", \"field\"?}}`."
    ),
    paths(
        widget::create_session,
        widget::events,
        auth::login,
        auth::logout,
        auth::me,
        conversations::list,
        conversations::get,
        conversations::events,
        conversations::post_message,
        actions::note,
        actions::take,
        actions::assign,
        actions::transfer,
        actions::escalate,
        actions::priority,
        actions::resolve,
        actions::reopen,
        actions::close,
        actions::add_tag,
        actions::remove_tag,
        actions::category,
        automation::list,
        automation::get,
        automation::create,
        automation::update,
        automation::delete,
        automation::get_escalation,
        automation::put_escalation,
        automation::get_hours,
        automation::put_hours,
        automation::delete_hours,
        operators::list,
        operators::create,
        operators::set_status,
        operators::get,
        operators::update,
        operators::delete,
        operators::restore,
        operators::password,
        operators::revoke_sessions,
        operators::me,
        telegram::webhook,
        telegram_admin::settings,
        telegram_admin::register_webhook,
        telegram_admin::texts,
        telegram_admin::set_text,
        telegram_admin::reset_text,
        otp::request,
        otp::verify,
        telegram::create_link_code,
        telegram::unlink_me,
        telegram::unlink_operator,
        groups::list,
        groups::create,
        groups::update,
        groups::delete,
        groups::add_member,
        groups::remove_member,
        serve,
        ws::visitor,
        ws::operator,
        health::health,
        metrics::metrics,
    ),
    components(schemas(
        crate::error::ApiError,
        crate::error::ApiErrorDetail,
        widget::NewWidgetSession,
        widget::WidgetSessionCreated,
        widget::VisitorEvent,
        widget::Page<widget::VisitorEvent>,
        widget::Page<ConversationSummary>,
        widget::Page<conversations::OperatorEvent>,
        auth::LoginRequest,
        auth::LoginResponse,
        OperatorView,
        ConversationSummary,
        conversations::OperatorEvent,
        conversations::NewMessage,
        Ack,
        actions::AssignRequest,
        actions::TransferRequest,
        actions::PriorityRequest,
        actions::TagRequest,
        actions::NoteRequest,
        actions::CategoryRequest,
        automation::AutoReplyList,
        automation::BusinessHoursView,
        crate::automation::templates::AutoReplyBody,
        crate::automation::templates::AutoReplyRow,
        crate::automation::rules::EscalationRules,
        crate::automation::hours::BusinessHours,
        operators::OperatorOut,
        operators::NewOperatorRequest,
        operators::OperatorPatch,
        operators::PasswordChange,
        operators::RevokedSessions,
        operators::StatusRequest,
        operators::StatusResponse,
        telegram::TelegramLinkCode,
        telegram_admin::TelegramSettings,
        telegram_admin::SupportChat,
        telegram_admin::WebhookStatus,
        telegram_admin::LinkedOperator,
        telegram_admin::BotText,
        telegram_admin::BotTextChange,
        otp::CodeRequest,
        otp::CodeSignIn,
        groups::GroupOut,
        groups::GroupMembers,
        groups::NewGroupRequest,
        groups::GroupPatch,
        health::Health,
    )),
    tags(
        (name = "widget", description = "The website widget: opening a conversation and reading its history"),
        (name = "auth", description = "Operator sign-in"),
        (name = "conversations", description = "Conversations and their customers"),
        (name = "automation", description = "Offline auto-reply templates, escalation rules and business hours"),
        (name = "actions", description = "Take, assign, transfer, escalate, priority, resolve, reopen, close, tags and notes; each leaves a system event and an audit entry"),
        (name = "operators", description = "The team: admins manage operators; every operator sets their own status"),
        (name = "groups", description = "Departments and their routing strategies; admins manage them"),
        (name = "websocket", description = "Socket upgrades; the frames are described in the README"),
        (name = "operations", description = "Health, Prometheus metrics and this document"),
        (name = "telegram", description = "The Telegram Bot API webhook (called by Telegram)"),
    )
)]
struct CoreApi;

/// The whole document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = CoreApi::openapi();
    doc.merge(content::openapi());
    doc.merge(super::privacy::openapi());
    // Modules may describe the same tag differently; the first description wins.
    if let Some(tags) = doc.tags.as_mut() {
        let mut seen = HashSet::new();
        tags.retain(|tag| seen.insert(tag.name.clone()));
    }
    unique_operation_ids(&mut doc.paths);
    let components = doc.components.get_or_insert_with(Default::default);
    wire_values(components);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "An operator token from `POST /api/v1/auth/login`; the session cookie \
                     (`__Host-sb_session`) with the same token is also accepted, for changes \
                     only from the server's own pages",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        "widget",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "A visitor's widget token from `POST /api/v1/widget/sessions`",
                ))
                .build(),
        ),
    );
    doc
}

/// Operation ids default to the handler's name, and several modules have a `list` or a `get`;
/// OpenAPI wants them unique, so a shared one is qualified by the operation's tag
/// (`list_tags`, `list_audit`).
fn unique_operation_ids(paths: &mut Paths) {
    let mut count: HashMap<String, usize> = HashMap::new();
    for item in paths.paths.values_mut() {
        for id in operations(item).filter_map(|op| op.operation_id.clone()) {
            *count.entry(id).or_default() += 1;
        }
    }
    for item in paths.paths.values_mut() {
        for op in operations(item) {
            let tag = op.tags.as_ref().and_then(|t| t.first()).cloned();
            if let (Some(id), Some(tag)) = (op.operation_id.as_mut(), tag) {
                if count.get(id.as_str()).is_some_and(|n| *n > 1) {
                    *id = format!("{id}_{}", tag.replace('-', "_"));
                }
            }
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
        &mut item.head,
        &mut item.options,
        &mut item.trace,
    ]
    .into_iter()
    .flatten()
}

/// The text enums are written on the wire by their `as_str` names (`round_robin`), which the
/// derive cannot see through the macro that declares them (it would document `RoundRobin`), so
/// their values are set here from the same source serde uses.
fn wire_values(components: &mut Components) {
    fn set<T: ToSchema>(components: &mut Components, values: Vec<&'static str>) {
        if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(&*T::name()) {
            object.enum_values = Some(values.into_iter().map(Into::into).collect());
        }
    }
    fn names<T: Copy>(all: &[T], as_str: fn(T) -> &'static str) -> Vec<&'static str> {
        all.iter().copied().map(as_str).collect()
    }
    set::<ConversationStatus>(
        components,
        names(ConversationStatus::ALL, ConversationStatus::as_str),
    );
    set::<Role>(components, names(Role::ALL, Role::as_str));
    set::<EventKind>(components, names(EventKind::ALL, EventKind::as_str));
    set::<Author>(components, names(Author::ALL, Author::as_str));
    set::<Channel>(components, names(Channel::ALL, Channel::as_str));
    set::<Presence>(components, names(Presence::ALL, Presence::as_str));
    set::<RoutingStrategy>(
        components,
        names(RoutingStrategy::ALL, RoutingStrategy::as_str),
    );
}

/// `GET /api/openapi.json`
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    operation_id = "openapi_document",
    tag = "operations",
    responses(
        (status = 200, description = "This OpenAPI 3 document", body = Object, content_type = "application/json"),
    )
)]
pub async fn serve() -> HttpResponse {
    HttpResponse::Ok().json(document())
}
