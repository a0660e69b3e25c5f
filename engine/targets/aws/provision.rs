//! Provisioning for local or disposable endpoints: create the queues and tables a scenario
//! needs, remember what was created (not what already existed), and delete exactly that.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
use aws_sdk_sqs::types::QueueAttributeName;

use super::clients::{Clients, explain};

/// A queue the scenario uses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct QueueNeed {
    /// Name (or URL, which is used as is).
    pub name: String,
    /// FIFO with content-based deduplication.
    pub fifo: bool,
    /// Visibility timeout when created.
    pub visibility: Duration,
}

/// What a run created, to be deleted afterwards.
#[derive(Debug, Default, Clone)]
pub(crate) struct Created {
    pub queues: Vec<String>,
    pub tables: Vec<String>,
}

/// Every mutating call provisioning would make, for `--dry-run`.
pub(crate) fn describe(queues: &[QueueNeed], tables: &[(String, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for q in queues {
        out.push(format!(
            "sqs:CreateQueue {} ({}visibility {}s)",
            q.name,
            if q.fifo { "FIFO, content-based deduplication, " } else { "" },
            q.visibility.as_secs()
        ));
    }
    for (t, key) in tables {
        out.push(format!("dynamodb:CreateTable {t} (key {key}, on demand)"));
    }
    for q in queues {
        out.push(format!("sqs:DeleteQueue {} (after the run, only if herd created it)", q.name));
    }
    for (t, _) in tables {
        out.push(format!("dynamodb:DeleteTable {t} (after the run, only if herd created it)"));
    }
    out
}

/// Resolves every queue's URL, creating the missing ones when `create` is set.
pub(crate) async fn queues(
    clients: &Clients,
    needs: &[QueueNeed],
    create: bool,
    created: &mut Created,
) -> Result<HashMap<String, String>, String> {
    let mut urls = HashMap::new();
    for q in needs {
        if q.name.starts_with("http://") || q.name.starts_with("https://") {
            urls.insert(q.name.clone(), q.name.clone());
            continue;
        }
        if let Ok(out) = clients.sqs.get_queue_url().queue_name(&q.name).send().await
            && let Some(url) = out.queue_url
        {
            urls.insert(q.name.clone(), url);
            continue;
        }
        if !create {
            return Err(format!(
                "queue {} does not exist; create it, or set provision = true for a disposable endpoint",
                q.name
            ));
        }
        let mut req = clients
            .sqs
            .create_queue()
            .queue_name(&q.name)
            .attributes(QueueAttributeName::VisibilityTimeout, q.visibility.as_secs().to_string());
        if q.fifo {
            req = req
                .attributes(QueueAttributeName::FifoQueue, "true")
                .attributes(QueueAttributeName::ContentBasedDeduplication, "true");
        }
        let url = req
            .send()
            .await
            .map_err(|e| format!("CreateQueue {}: {}", q.name, explain(&e)))?
            .queue_url
            .ok_or_else(|| format!("CreateQueue {} returned no URL", q.name))?;
        created.queues.push(url.clone());
        urls.insert(q.name.clone(), url);
    }
    Ok(urls)
}

/// Makes sure the tables exist, creating the missing ones when `create` is set.
pub(crate) async fn tables(
    clients: &Clients,
    needs: &[(String, String)],
    create: bool,
    created: &mut Created,
) -> Result<(), String> {
    for (table, key) in needs {
        if let Ok(found) = clients.dynamodb.describe_table().table_name(table).send().await {
            // A table that exists with another key would be read and written wrongly: refuse it.
            let schema: Vec<String> = found
                .table()
                .map(|t| {
                    t.key_schema()
                        .iter()
                        .map(|k| format!("{} ({})", k.attribute_name(), k.key_type().as_str()))
                        .collect()
                })
                .unwrap_or_default();
            let expected = format!("{key} (HASH)");
            if schema != [expected.clone()] {
                return Err(format!(
                    "table {table} exists with key schema [{}]; herd needs [{expected}]",
                    schema.join(", ")
                ));
            }
            continue;
        }
        if !create {
            return Err(format!(
                "table {table} does not exist; create it, or set provision = true for a disposable endpoint"
            ));
        }
        let attr = AttributeDefinition::builder()
            .attribute_name(key)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| e.to_string())?;
        let schema = KeySchemaElement::builder()
            .attribute_name(key)
            .key_type(KeyType::Hash)
            .build()
            .map_err(|e| e.to_string())?;
        let made = clients
            .dynamodb
            .create_table()
            .table_name(table)
            .attribute_definitions(attr)
            .key_schema(schema)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await;
        match made {
            Ok(_) => created.tables.push(table.clone()),
            // Created in the meantime by someone else (another slice of the same run, set up at
            // the same moment): it exists, and it is not this run's to delete.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => {
                tracing::info!(target: "herd::aws", "table {table} was created by someone else meanwhile; using it");
            }
            Err(e) => return Err(format!("CreateTable {table}: {}", explain(&e))),
        }
    }
    Ok(())
}

/// Deletes what the run created, all at once, within `deadline`; returns what could not be
/// deleted, naming each queue and table.
pub(crate) async fn cleanup(clients: &Clients, created: &Created, deadline: Duration) -> Vec<String> {
    let mut calls = tokio::task::JoinSet::new();
    let mut pending: Vec<String> = Vec::new();
    for url in &created.queues {
        let (c, url) = (clients.clone(), url.clone());
        let name = format!("queue {url}");
        pending.push(name.clone());
        calls
            .spawn(async move { (name, c.sqs.delete_queue().queue_url(&url).send().await.err().map(|e| explain(&e))) });
    }
    for t in &created.tables {
        let (c, t) = (clients.clone(), t.clone());
        let name = format!("table {t}");
        pending.push(name.clone());
        calls.spawn(
            async move { (name, c.dynamodb.delete_table().table_name(&t).send().await.err().map(|e| explain(&e))) },
        );
    }
    let mut failed = Vec::new();
    let _ = tokio::time::timeout(deadline, async {
        while let Some(joined) = calls.join_next().await {
            if let Ok((name, error)) = joined {
                pending.retain(|p| *p != name);
                if let Some(e) = error {
                    failed.push(format!("{name} was not deleted: {e}"));
                }
            }
        }
    })
    .await;
    calls.abort_all();
    for name in pending {
        failed.push(format!(
            "{name} was not deleted: no answer within the clean-up deadline ({})",
            crate::plan::format_duration(deadline)
        ));
    }
    failed
}
