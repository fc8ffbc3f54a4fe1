//! Starting the providers together (payments, our cloud API, Hetzner
//! Cloud, e-mail), each on its own loopback port.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::cloud::Cloud;
use crate::email::Email;
use crate::hetzner::Hetzner;
use crate::payments::Payments;
use crate::server::{self, Handler};

/// The webhook secret used when none is given.
pub const DEFAULT_WEBHOOK_SECRET: &str = "whsec_sims";

/// Where the providers listen and how they behave.
#[derive(Debug, Clone)]
pub struct Config {
    /// The payment provider's address (port 0: any free port).
    pub listen_payments: SocketAddr,
    /// The cloud provider's address.
    pub listen_cloud: SocketAddr,
    /// The email API's address.
    pub listen_email: SocketAddr,
    /// Hetzner Cloud's address (its API under `/v1`).
    pub listen_hetzner: SocketAddr,
    /// Where payment events are POSTed (changeable at runtime).
    pub webhook_url: Option<String>,
    /// The secret webhooks are signed with.
    pub webhook_secret: String,
    /// How long after creation a cloud resource becomes ready.
    pub cloud_latency: Duration,
}

impl Default for Config {
    fn default() -> Self {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        Self {
            listen_payments: any,
            listen_cloud: any,
            listen_email: any,
            listen_hetzner: any,
            webhook_url: None,
            webhook_secret: DEFAULT_WEBHOOK_SECRET.to_owned(),
            cloud_latency: Duration::ZERO,
        }
    }
}

/// The running providers. Dropping this stops them.
#[derive(Debug)]
pub struct Running {
    /// The payment provider's bound address.
    pub payments: SocketAddr,
    /// The cloud provider's bound address.
    pub cloud: SocketAddr,
    /// The email API's bound address.
    pub email: SocketAddr,
    /// Hetzner Cloud's bound address.
    pub hetzner: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// `http://<payments address>`.
    pub fn payments_url(&self) -> String {
        format!("http://{}", self.payments)
    }

    /// `http://<cloud address>`.
    pub fn cloud_url(&self) -> String {
        format!("http://{}", self.cloud)
    }

    /// `http://<email address>`.
    pub fn email_url(&self) -> String {
        format!("http://{}", self.email)
    }

    /// `http://<Hetzner address>` (the API is under `/v1`, as
    /// `https://api.hetzner.cloud/v1`).
    pub fn hetzner_url(&self) -> String {
        format!("http://{}", self.hetzner)
    }

    /// Stops accepting, closes open connections gracefully, and waits for
    /// the accept loops to end.
    pub async fn shutdown(mut self) {
        // Nobody listening is fine: the loops are already gone.
        let _ = self.shutdown.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// Binds the four listeners and starts serving on the current runtime.
///
/// # Errors
/// If an address cannot be bound.
pub async fn start(config: Config) -> io::Result<Running> {
    let payments = TcpListener::bind(config.listen_payments).await?;
    let cloud = TcpListener::bind(config.listen_cloud).await?;
    let email = TcpListener::bind(config.listen_email).await?;
    let hetzner = TcpListener::bind(config.listen_hetzner).await?;
    let (shutdown, stop) = watch::channel(false);
    let addrs = (
        payments.local_addr()?,
        cloud.local_addr()?,
        email.local_addr()?,
        hetzner.local_addr()?,
    );
    let tasks = vec![
        spawn(
            payments,
            Payments::new(config.webhook_url, config.webhook_secret),
            stop.clone(),
        ),
        spawn(cloud, Cloud::new(config.cloud_latency), stop.clone()),
        spawn(email, Email::default(), stop.clone()),
        spawn(hetzner, Hetzner::default(), stop),
    ];
    Ok(Running {
        payments: addrs.0,
        cloud: addrs.1,
        email: addrs.2,
        hetzner: addrs.3,
        shutdown,
        tasks,
    })
}

fn spawn<H: Handler>(listener: TcpListener, handler: H, stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(server::serve(listener, Arc::new(handler), stop))
}
