import streamlit as st

st.set_page_config(page_title="Hello Streamlit", page_icon="🎈")

st.title("🎈 Hello Streamlit")
name = st.text_input("Your name", value="world")
times = st.slider("How many greetings?", min_value=1, max_value=5, value=1)
excited = st.checkbox("Excited")

greeting = f"Hello, {name.strip() or 'world'}{'!' if excited else '.'}"
for _ in range(times):
    st.write(greeting)

if st.button("Celebrate"):
    st.balloons()
