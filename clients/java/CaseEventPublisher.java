// Publish case events to minwon-hub from Java with Spring AMQP: RabbitTemplate with
// publisher confirms (correlated) and returns (mandatory). One event in binary mode
// (ce-* headers, the body is data), one in structured mode (the whole event is the body).
// Needs spring-rabbit 3.x and jackson-databind. See docs/upstream.md.
package kr.go.example.minwon;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.time.OffsetDateTime;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.springframework.amqp.core.Message;
import org.springframework.amqp.core.MessageBuilder;
import org.springframework.amqp.core.MessageDeliveryMode;
import org.springframework.amqp.core.ReturnedMessage;
import org.springframework.amqp.rabbit.connection.CachingConnectionFactory;
import org.springframework.amqp.rabbit.connection.CorrelationData;
import org.springframework.amqp.rabbit.core.RabbitTemplate;

public final class CaseEventPublisher implements AutoCloseable {
    private static final String EXCHANGE = "minwon.events"; // topic; routing key = event type
    private final CachingConnectionFactory factory;
    private final RabbitTemplate template;
    private final ObjectMapper json = new ObjectMapper();

    public CaseEventPublisher(String uri) {
        factory = new CachingConnectionFactory(java.net.URI.create(uri));
        factory.setPublisherConfirmType(CachingConnectionFactory.ConfirmType.CORRELATED);
        factory.setPublisherReturns(true);
        template = new RabbitTemplate(factory);
        template.setMandatory(true); // unroutable: returned to us, not dropped
    }

    /** Binary mode: the attributes as ce-* headers, data as the JSON body. */
    public void publishBinary(String id, String type, String source, String subject,
                              Map<String, Object> data) throws Exception {
        Message message = MessageBuilder.withBody(json.writeValueAsBytes(data))
                .setContentType("application/json") // the data's type
                .setMessageId(id)
                .setDeliveryMode(MessageDeliveryMode.PERSISTENT)
                .setHeader("ce-specversion", "1.0")
                .setHeader("ce-id", id) // the idempotency key: keep it when you retry
                .setHeader("ce-source", source)
                .setHeader("ce-type", type)
                .setHeader("ce-time", OffsetDateTime.now().toString())
                .setHeader("ce-subject", subject)
                .build();
        send(type, id, message);
    }

    /** Structured mode: the whole CloudEvent as the JSON body. */
    public void publishStructured(String id, String type, String source, String subject,
                                  Map<String, Object> data) throws Exception {
        Map<String, Object> event = new LinkedHashMap<>();
        event.put("specversion", "1.0");
        event.put("id", id);
        event.put("source", source);
        event.put("type", type);
        event.put("time", OffsetDateTime.now().toString());
        event.put("subject", subject);
        event.put("datacontenttype", "application/json");
        event.put("data", data);
        Message message = MessageBuilder.withBody(json.writeValueAsBytes(event))
                .setContentType("application/cloudevents+json")
                .setMessageId(id)
                .setDeliveryMode(MessageDeliveryMode.PERSISTENT)
                .build();
        send(type, id, message);
    }

    /** Publish and wait for the broker's confirm; a nack or a return is an exception. */
    private void send(String routingKey, String id, Message message) throws Exception {
        CorrelationData correlation = new CorrelationData(id);
        template.send(EXCHANGE, routingKey, message, correlation);
        CorrelationData.Confirm confirm = correlation.getFuture().get(30, TimeUnit.SECONDS);
        ReturnedMessage returned = correlation.getReturned();
        if (returned != null) {
            throw new IllegalStateException("unroutable " + id + ": " + returned.getReplyText());
        }
        if (!confirm.isAck()) {
            throw new IllegalStateException("nacked " + id + ": " + confirm.getReason());
        }
    }

    @Override
    public void close() {
        factory.destroy();
    }

    public static void main(String[] args) throws Exception {
        String uri = System.getenv().getOrDefault("MINWON_BROKER_URL",
                "amqp://guest:guest@localhost:5672/%2F");
        Map<String, Object> data = Map.of(
                "org", "gumi",
                "case", Map.of("id", "2026-0001234", "title", "도로 파손 신고",
                        "department", "도로철도과",
                        "officer", Map.of("name", "김담당", "phone", "054-480-0000")),
                "citizen", Map.of("name", "홍길동", "phone", "010-0000-0000",
                        "channels", List.of("sms")));
        try (CaseEventPublisher publisher = new CaseEventPublisher(uri)) {
            publisher.publishBinary("java-binary-1", "case.received", "/gumi/yescall",
                    "2026-0001234", data);
            publisher.publishStructured("java-structured-1", "case.received", "/gumi/yescall",
                    "2026-0001234", data);
        }
        System.out.println("published java-binary-1 java-structured-1");
    }
}
