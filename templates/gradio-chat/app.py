import random
import time
from collections.abc import Iterator

import gradio as gr

RULES = {
    ("hello", "hi", "hey"): "Hello! I am a tiny rule-based bot. Ask me anything and I will echo it.",
    ("help",): "Try greeting me, asking for a joke, or asking how many messages we exchanged.",
    ("joke",): "Why do programmers prefer dark mode? Because light attracts bugs.",
    ("how many", "count"): "We have exchanged {turns} messages so far.",
}


def reply_for(message: str, turns: int) -> str:
    text = message.lower()
    for keywords, answer in RULES.items():
        if any(word in text for word in keywords):
            return answer.format(turns=turns)
    return f"You said: {message.strip()!r}. " + random.choice(
        ["Tell me more.", "Interesting!", "Why is that?", "Go on."]
    )


def respond(message: str, history: list[dict]) -> Iterator[str]:
    """Stream the answer: yield the text so far, one word more each time."""
    answer = reply_for(message, turns=len(history) + 1)
    words = answer.split(" ")
    for i in range(1, len(words) + 1):
        time.sleep(0.03)
        yield " ".join(words[:i])


demo = gr.ChatInterface(
    fn=respond,
    title="Echo Chat",
    description="A streaming chat interface with a rule-based bot: no model to download.",
    examples=["Hello!", "Tell me a joke", "How many messages so far?"],
    api_name="chat",  # API clients call /chat
)

if __name__ == "__main__":
    demo.launch()
