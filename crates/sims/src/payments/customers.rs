//! Customers: the saved payment method a renewal is charged with.

#[allow(clippy::wildcard_imports)]
use super::*;

impl State {
    pub(super) fn create_customer(&mut self, req: &Request) -> Response {
        match self.try_create_customer(req) {
            Ok(response) | Err(response) => response,
        }
    }

    /// `POST /v1/customers`: whom a saved payment method belongs to.
    pub(super) fn try_create_customer(&mut self, req: &Request) -> Result<Response, Response> {
        let mut p = Params::of(req)?;
        let value = p.to_value();
        let key = req.idempotency_key();
        self.check_key(key.as_deref(), "create_customer", &value)?;
        let description = p.string("description")?;
        let email = p.string("email")?;
        let name = p.string("name")?;
        let metadata = p.metadata("metadata")?;
        let _ = p.strings("expand")?;
        p.finish()?;
        let customer = json!({
            "id": ids::new_id("cus"),
            "object": "customer",
            "description": description,
            "email": email,
            "name": name,
            "metadata": metadata,
            "created": clock::unix_now(),
            "livemode": false,
        });
        let response = ok(customer.clone());
        self.customers.push(customer);
        self.idempotency
            .save(key.as_deref(), "create_customer", value, response.clone());
        Ok(response)
    }
}
