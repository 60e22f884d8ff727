// Publish case events to minwon-hub from Node.js: amqplib with publisher confirms and the
// CloudEvents SDK. One event in binary mode (attributes as ce-* headers, the body is data),
// one in structured mode (the whole event is the body). See docs/upstream.md.
//
//   MINWON_BROKER_URL=amqp://user:pass@rabbit:5672/%2F node publish.mjs [ID_PREFIX]
import amqp from "amqplib";
import { CloudEvent, HTTP } from "cloudevents";

const url = process.env.MINWON_BROKER_URL ?? "amqp://guest:guest@localhost:5672/%2F";
const EXCHANGE = "minwon.events"; // a topic exchange; the routing key is the event type

function caseReceived(id) {
  return new CloudEvent({
    specversion: "1.0",
    id, // the idempotency key: publishing it again sends nothing twice
    source: "/gumi/yescall",
    type: "case.received",
    subject: "2026-0001234",
    time: "2026-11-21T09:12:00+09:00",
    datacontenttype: "application/json",
    data: {
      org: "gumi",
      case: {
        id: "2026-0001234",
        title: "도로 파손 신고",
        department: "도로철도과",
        officer: { name: "김담당", phone: "054-480-0000" },
      },
      citizen: { name: "홍길동", phone: "010-0000-0000", channels: ["sms"] },
    },
  });
}

// Binary mode: the SDK's binary message has ce-* headers and the data as body; its
// content-type (the data's type) goes into the AMQP content_type property.
function binaryMessage(event) {
  const { headers, body } = HTTP.binary(event);
  const { "content-type": contentType, ...ceHeaders } = headers;
  return { body: Buffer.from(body), options: { contentType, headers: ceHeaders } };
}

// Structured mode: the whole event as JSON.
function structuredMessage(event) {
  const { body } = HTTP.structured(event);
  return { body: Buffer.from(body), options: { contentType: "application/cloudevents+json" } };
}

async function main() {
  const prefix = process.argv[2] ?? `node-${Date.now()}`;
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createConfirmChannel();
    const returned = [];
    channel.on("return", (message) => returned.push(message.properties.messageId));
    const events = [
      [caseReceived(`${prefix}-binary`), binaryMessage],
      [caseReceived(`${prefix}-structured`), structuredMessage],
    ];
    for (const [event, encode] of events) {
      const { body, options } = encode(event);
      channel.publish(EXCHANGE, event.type, body, {
        ...options,
        messageId: event.id,
        persistent: true, // delivery_mode 2: survives a broker restart
        mandatory: true, // returned (not dropped) if nothing is bound
      });
    }
    await channel.waitForConfirms(); // rejects if the broker nacked any
    if (returned.length > 0) {
      throw new Error(`unroutable (is the hub's topology declared?): ${returned.join(", ")}`);
    }
    for (const [event] of events) console.log(`published ${event.id}`);
  } finally {
    await connection.close();
  }
}

main().catch((error) => {
  console.error(`error: ${error.message}`);
  process.exit(1);
});
