virsh vol-delete @LOOP_GPT@p2 --pool diskgpt
