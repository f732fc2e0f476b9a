//! A TCP proxy in front of PostgreSQL that a test can cut: while it is down, open connections
//! are dropped and new ones refused, which is what the server sees when PostgreSQL stops.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;

pub struct PgProxy {
    pub addr: SocketAddr,
    target: SocketAddr,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    acceptor: Option<JoinHandle<()>>,
}

fn listen(addr: SocketAddr) -> TcpListener {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind(addr).unwrap();
    socket.listen(128).unwrap()
}

impl PgProxy {
    pub async fn start(target: SocketAddr) -> PgProxy {
        let listener = listen("127.0.0.1:0".parse().unwrap());
        let addr = listener.local_addr().unwrap();
        let mut proxy = PgProxy {
            addr,
            target,
            tasks: Arc::default(),
            acceptor: None,
        };
        proxy.serve(listener);
        proxy
    }

    /// A database URL that goes through the proxy.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@{}/{database}", self.addr)
    }

    fn serve(&mut self, listener: TcpListener) {
        let tasks = self.tasks.clone();
        let target = self.target;
        self.acceptor = Some(tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let handle = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().unwrap().push(handle);
            }
        }));
    }

    /// PostgreSQL "stops": every connection is cut and new ones are refused.
    pub fn down(&mut self) {
        if let Some(acceptor) = self.acceptor.take() {
            acceptor.abort();
        }
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// PostgreSQL is back on the same address.
    pub async fn up(&mut self) {
        // The aborted acceptor releases the port once its task is dropped; retry briefly.
        for _ in 0..50 {
            let socket = TcpSocket::new_v4().unwrap();
            socket.set_reuseaddr(true).unwrap();
            if socket.bind(self.addr).is_ok() {
                let listener = socket.listen(128).unwrap();
                self.serve(listener);
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("could not re-bind the proxy port");
    }
}
