import gradio as gr


def greet(name: str) -> str:
    name = name.strip() or "world"
    return f"Hello, {name}!"


demo = gr.Interface(
    fn=greet,
    inputs=gr.Textbox(label="Your name", placeholder="Ada"),
    outputs=gr.Textbox(label="Greeting"),
    title="Hello Gradio",
    description="Type a name and press Submit.",
    examples=[["Ada"], ["Grace"], ["Alan"]],
    flagging_mode="never",
    # A stable endpoint for API clients: Client(url).predict("Ada", api_name="/predict")
    api_name="predict",
)

if __name__ == "__main__":
    demo.launch()
