// One SendMessage per call, with one SQS client for the whole process (as the SDK advises).
const { SQSClient, SendMessageCommand } = require("@aws-sdk/client-sqs");

const endpoint = process.env.ENDPOINT;
const client = new SQSClient({
  endpoint,
  region: "us-east-1",
  credentials: { accessKeyId: "bench", secretAccessKey: "bench" },
  maxAttempts: 1,
});
let sent = 0;

async function send(context, events) {
  const started = Date.now();
  await client.send(
    new SendMessageCommand({
      QueueUrl: `${endpoint}/000000000000/bench-work`,
      MessageBody: JSON.stringify({ commandId: String(sent++), instruction: "x" }),
    }),
  );
  events.emit("counter", "sqs.sent", 1);
  events.emit("histogram", "sqs.send_ms", Date.now() - started);
}

module.exports = { send };
