//! The channels admin API under `/v1/channels`: where rules' notify actions
//! are delivered (webhooks, email, Slack, Telegram, WhatsApp).
//!
//! Promises, and why they hold:
//! - **Only the caller's tenant.** Every query runs in the caller's tenant
//!   transaction (`signalops-notify-store`); other tenants' channels answer
//!   404 like ids that do not exist.
//! - **Credentials are shown once.** A webhook's signing secret is in the
//!   answer that created or rotated it and nowhere else; tokens, Slack URLs
//!   and extra header values are never answered. They are sealed at rest.
//! - **Every change is recorded.** Each create, update, delete, rotation and
//!   enable writes its audit entry and stages its system event
//!   (`signalops.channel.*`) in the transaction of the change.

mod body;
mod changes;
mod routes;
mod views;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(routes::list_channels)
        .service(routes::create_channel)
        .service(routes::get_channel)
        .service(routes::update_channel)
        .service(routes::delete_channel)
        .service(routes::rotate_channel_secret)
        .service(routes::enable_channel);
}
