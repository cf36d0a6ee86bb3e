import numpy as np
import pandas as pd
import streamlit as st

st.set_page_config(page_title="Streamlit Dashboard", page_icon="📊", layout="wide")

REGIONS = ["North", "South", "East", "West"]


@st.cache_data
def make_data(days: int, seed: int) -> pd.DataFrame:
    """Daily sales per region: a trend, a weekly cycle and noise."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(end=pd.Timestamp.today().normalize(), periods=days, freq="D")
    rows = []
    for i, region in enumerate(REGIONS):
        trend = np.linspace(100 + 20 * i, 140 + 35 * i, days)
        weekly = 15 * np.sin(2 * np.pi * np.arange(days) / 7 + i)
        sales = np.maximum(trend + weekly + rng.normal(0, 10, days), 0)
        visitors = (sales * rng.uniform(8, 12, days)).astype(int)
        rows.append(pd.DataFrame({"date": dates, "region": region, "sales": sales.round(2),
                                  "visitors": visitors}))
    return pd.concat(rows, ignore_index=True)


if "refreshes" not in st.session_state:
    st.session_state.refreshes = 0

with st.sidebar:
    st.header("Filters")
    days = st.slider("Days of history", min_value=14, max_value=365, value=90, step=7)
    regions = st.multiselect("Regions", REGIONS, default=REGIONS)
    seed = st.number_input("Random seed", min_value=0, max_value=10_000, value=42)
    if st.button("New data"):
        st.session_state.refreshes += 1
    st.caption(f"Data regenerated {st.session_state.refreshes} time(s) this session.")

data = make_data(days, int(seed) + st.session_state.refreshes)
data = data[data["region"].isin(regions)]

st.title("📊 Sales dashboard")
if data.empty:
    st.info("Pick at least one region in the sidebar.")
    st.stop()

last_week = data[data["date"] > data["date"].max() - pd.Timedelta(days=7)]
week_before = data[(data["date"] <= data["date"].max() - pd.Timedelta(days=7))
                   & (data["date"] > data["date"].max() - pd.Timedelta(days=14))]
total, previous = last_week["sales"].sum(), week_before["sales"].sum()
col1, col2, col3 = st.columns(3)
col1.metric("Sales, last 7 days", f"{total:,.0f}",
            f"{(total - previous) / previous:+.1%}" if previous else None)
col2.metric("Visitors, last 7 days", f"{last_week['visitors'].sum():,}")
col3.metric("Best region", last_week.groupby("region")["sales"].sum().idxmax())

daily = data.pivot_table(index="date", columns="region", values="sales")
st.subheader("Daily sales")
st.line_chart(daily)

left, right = st.columns(2)
with left:
    st.subheader("Total by region")
    st.bar_chart(data.groupby("region")["sales"].sum())
with right:
    st.subheader("Visitors vs sales")
    st.scatter_chart(data, x="visitors", y="sales", color="region")

with st.expander("Raw data"):
    st.dataframe(data.sort_values("date", ascending=False))
    st.download_button("Download CSV", data.to_csv(index=False), "sales.csv", "text/csv")
